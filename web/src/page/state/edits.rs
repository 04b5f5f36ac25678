//! The config edits typed for the new image (env, entrypoint, cmd, workdir, labels): the same
//! edits as `layerize append --env/--entrypoint/--cmd/--workdir/--label`, part of the draft.

use layerize_core::config::ConfigChanges;

use crate::page::Error;

/// The edits as typed; turned into [`ConfigChanges`] when the layer is built.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Edits {
    pub env: String,
    pub entrypoint: String,
    pub cmd: String,
    pub workdir: String,
    pub labels: String,
}

impl Edits {
    /// The changes, or an error naming the field that is wrong.
    pub fn changes(&self, created: &str) -> Result<ConfigChanges, Error> {
        let lines = |s: &str| s.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect::<Vec<_>>();
        let command = |field: &'static str, s: &str| -> Result<Option<Vec<String>>, Error> {
            if s.trim().is_empty() {
                return Ok(None);
            }
            ConfigChanges::parse_command(s).map(Some).map_err(|reason| Error::Field { field, reason })
        };
        let env = lines(&self.env);
        for e in &env {
            ConfigChanges::parse_key_value(e).map_err(|reason| Error::Field { field: "Env", reason })?;
        }
        Ok(ConfigChanges {
            created: Some(created.to_owned()),
            env,
            entrypoint: command("Entrypoint", &self.entrypoint)?,
            cmd: command("Cmd", &self.cmd)?,
            working_dir: Some(self.workdir.trim().to_owned()).filter(|w| !w.is_empty()),
            labels: lines(&self.labels)
                .iter()
                .map(|l| ConfigChanges::parse_key_value(l).map_err(|reason| Error::Field { field: "Labels", reason }))
                .collect::<Result<_, _>>()?,
            user: None,
            exposed_ports: Vec::new(),
        })
    }

    /// The `layerize append` flags for these edits.
    pub fn flags(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let lines = |s: &str| s.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect::<Vec<_>>();
        out.extend(lines(&self.env).into_iter().map(|e| ("--env", e)));
        for (flag, value) in [("--entrypoint", &self.entrypoint), ("--cmd", &self.cmd), ("--workdir", &self.workdir)] {
            if !value.trim().is_empty() {
                out.push((flag, value.trim().to_owned()));
            }
        }
        out.extend(lines(&self.labels).into_iter().map(|l| ("--label", l)));
        out
    }
}
