//! `layerize inspect`: what an index or image holds, as a readable summary or JSON; or the
//! manifest or config bytes exactly as the registry serves them (`--raw`, `--config`), byte for
//! byte what `skopeo inspect --raw` and `skopeo inspect --config --raw` print.

use std::fmt::Write as _;
use std::io::Write;

use anyhow::{Context, Result};
use layerize_core::config::Config;
use layerize_core::config::Summary;
use layerize_core::inspect::{ImageReport, IndexReport, Report, Role};
use layerize_core::manifest::Manifest;
use layerize_core::media_type::MediaType;
use layerize_registry::copy::{self, ImageSource};

use crate::image_arg::ImageArg;
use crate::remote::RegistryFlags;
use crate::resolve;
use crate::source;
use crate::store::StoreFlag;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The image or index: a registry reference (127.0.0.1:5000/app:1, alpine:3.20), a name
    /// in the local store, oci:DIR[:NAME], docker-archive:FILE[:NAME] or oci-archive:FILE[:NAME].
    reference: String,
    /// Print the manifest bytes exactly as served (an index's own, unless --platform picks an image).
    #[arg(long, conflicts_with = "json")]
    raw: bool,
    /// Print the config bytes exactly as stored (for an index, of the --platform image).
    #[arg(long, conflicts_with = "json")]
    config: bool,
    /// Which image of a multi-platform index (for --config the default is this machine's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryFlags,
}

pub fn run(args: Args, store: StoreFlag) -> Result<()> {
    let arg = ImageArg::parse(&args.reference, &store)?;
    let shown = match &arg {
        ImageArg::Registry(reference) => reference.to_string(),
        _ => args.reference.clone(),
    };
    let platform = resolve::platform_arg(args.platform.as_deref())?;
    let access = args.registry.access(arg.registries())?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let client = source::client_for(&arg, &access)?;
        let platforms = source::platforms(args.platform.as_deref(), false)?;
        let (source, selector) = source::open(&arg, &store, client.as_ref(), &platforms)?;
        let fetched = source.manifest(&selector).await.with_context(|| format!("reading {shown}"))?;
        // Served bytes, unparsed: even a manifest this tool cannot read is shown as it is.
        if args.raw && !args.config && platform.is_none() {
            return write_stdout(&fetched.raw);
        }
        let manifest = Manifest::parse(&shown, fetched.raw, fetched.content_type.as_deref())?;
        let wants_image = args.raw || args.config || platform.is_some();
        if let Manifest::Index(index) = &manifest {
            if !wants_image {
                return print(&Report::Index(IndexReport::new(index)), &shown, args.json);
            }
        }
        let plan = source::plan(&source, &selector, &platforms).await?;
        let image = match Manifest::parse(&shown, plan.top.raw.to_vec(), Some(plan.top.descriptor.media_type.as_str()))?
        {
            Manifest::Image(image) => image,
            Manifest::Index(_) => anyhow::bail!("{shown}: the platform's entry is itself an index"),
        };
        if args.config {
            let config = copy::read_whole(&source, &image.config)
                .await
                .with_context(|| format!("reading the config of {shown}"))?;
            return write_stdout(&config);
        }
        if args.raw {
            return write_stdout(image.raw());
        }
        let config = match image.config.media_type {
            MediaType::DockerConfig | MediaType::OciConfig => {
                let raw = copy::read_whole(&source, &image.config)
                    .await
                    .with_context(|| format!("reading the config of {shown}"))?;
                Some(Config::parse(image.config.digest.as_str(), raw)?)
            }
            _ => None,
        };
        print(&Report::Image(Box::new(ImageReport::new(&image, config.as_ref()))), &shown, args.json)
    })
}

fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    Ok(out.flush()?)
}

fn print(report: &Report, reference: &str, json: bool) -> Result<()> {
    let text = if json {
        #[derive(serde::Serialize)]
        struct Named<'a> {
            reference: String,
            #[serde(flatten)]
            report: &'a Report,
        }
        let mut s = serde_json::to_string_pretty(&Named { reference: reference.to_string(), report })?;
        s.push('\n');
        s
    } else {
        match report {
            Report::Index(index) => render_index(index, reference),
            Report::Image(image) => render_image(image, reference),
        }
    };
    write_stdout(text.as_bytes())
}

fn render_index(index: &IndexReport, reference: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{reference}");
    let _ = writeln!(s, "  index       {}  {}  {}", index.digest, index.media_type, human(index.size));
    let _ = writeln!(s, "\n{} manifests:", index.manifests.len());
    let width = index
        .manifests
        .iter()
        .filter_map(|m| m.platform.as_ref().map(String::len))
        .max()
        .unwrap_or(1)
        .max("PLATFORM".len());
    let _ = writeln!(s, "  {:<width$}  {:>10}  {:<71}  MEDIA TYPE", "PLATFORM", "SIZE", "DIGEST");
    for m in &index.manifests {
        let platform = m.platform.as_deref().unwrap_or("-");
        let _ = write!(s, "  {platform:<width$}  {:>10}  {}  {}", human(m.size), m.digest, m.media_type);
        match m.role {
            Role::Image => {}
            Role::Index => s.push_str("  (index)"),
            Role::Attestation => {
                let _ = write!(s, "  (attestation of {})", m.describes.as_deref().unwrap_or("an unnamed image"));
            }
            Role::Artifact => {
                let _ = write!(
                    s,
                    "  (artifact{})",
                    m.artifact_type.as_deref().map(|t| format!(": {t}")).unwrap_or_default()
                );
            }
        }
        s.push('\n');
    }
    s
}

fn render_image(image: &ImageReport, reference: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{reference}");
    let _ = writeln!(s, "  manifest    {}  {}  {}", image.digest, image.media_type, human(image.size));
    let config = &image.config;
    let _ = writeln!(s, "  config      {}  {}  {}", config.digest, config.media_type, human(config.size));
    if let Some(note) = &image.note {
        let _ = writeln!(s, "  artifact    {note}");
    }
    if let Some(summary) = &config.summary {
        render_config(&mut s, summary);
    }
    if !image.history.is_empty() {
        let _ = writeln!(s, "\nhistory:");
        let width = image.history.iter().filter_map(|h| h.history.created.as_deref().map(str::len)).max().unwrap_or(1);
        for (i, step) in image.history.iter().enumerate() {
            let h = &step.history;
            let what = h.created_by.as_deref().or(h.comment.as_deref()).unwrap_or("-");
            let made = match step.layer.and_then(|n| image.layers.get(n - 1)) {
                Some(layer) => format!("layer {} ({})", layer.number, human(layer.size)),
                None if h.empty_layer => "no layer".to_owned(),
                None => "no layer (the manifest has fewer layers than the history)".to_owned(),
            };
            let _ = writeln!(
                s,
                "  {:>3}  {:<width$}  {made:<22}  {}",
                i + 1,
                h.created.as_deref().unwrap_or("-"),
                one_line(what)
            );
        }
    }
    let _ = writeln!(s, "\nlayers: {} ({} in total)", image.layers.len(), human(image.layers_size));
    for layer in &image.layers {
        let _ = writeln!(s, "  {:>3}  {}  {:>10}  {}", layer.number, layer.digest, human(layer.size), layer.media_type);
    }
    s
}

fn render_config(s: &mut String, c: &Summary) {
    let words = |w: &Option<Vec<String>>| {
        w.as_ref().map(|w| serde_json::to_string(w).unwrap_or_default()).unwrap_or_else(|| "-".into())
    };
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let _ = writeln!(s, "  platform    {}", c.platform);
    let _ = writeln!(s, "  created     {}", or_dash(&c.created));
    let _ = writeln!(s, "\nconfig:");
    let _ = writeln!(s, "  entrypoint  {}", words(&c.entrypoint));
    let _ = writeln!(s, "  cmd         {}", words(&c.cmd));
    let _ = writeln!(s, "  workdir     {}", or_dash(&c.working_dir));
    let _ = writeln!(s, "  user        {}", or_dash(&c.user));
    let ports = if c.exposed_ports.is_empty() { "-".to_owned() } else { c.exposed_ports.join(" ") };
    let _ = writeln!(s, "  ports       {ports}");
    list(s, "env", c.env.iter().cloned());
    list(s, "labels", c.labels.iter().map(|(k, v)| format!("{k}={v}")));
}

/// `  name        first` and further items aligned under it, or `-`.
fn list(s: &mut String, name: &str, items: impl Iterator<Item = String>) {
    let mut items = items.peekable();
    if items.peek().is_none() {
        let _ = writeln!(s, "  {name:<10}  -");
    }
    for (i, item) in items.enumerate() {
        let _ = writeln!(s, "  {:<10}  {item}", if i == 0 { name } else { "" });
    }
}

/// History commands can be long shell scripts: one line, cut at 100 characters.
fn one_line(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(100) {
        Some((at, _)) => format!("{}…", &flat[..at]),
        None => flat,
    }
}

/// `532 B`, `1.4 KiB`, `2.0 MiB`.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_commands_are_short() {
        assert_eq!(human(532), "532 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(3 << 20), "3.0 MiB");
        assert_eq!(
            one_line("/bin/sh -c  apt-get update \\\n && apt-get install x"),
            "/bin/sh -c apt-get update \\ && apt-get install x"
        );
        assert!(one_line(&"x ".repeat(200)).ends_with('…'));
    }
}
