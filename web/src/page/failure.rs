//! Failures as the page shows them: in the banner at the top (which stays in view) and in the
//! section whose action failed, next to the button that was pressed; what to do first, then
//! what happened, each URL once.

use layerize_registry::Error;

/// The sections whose actions can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Base,
    Files,
    Build,
    Push,
    Save,
}

impl Section {
    /// The id of the section's error line (`push-error`).
    pub fn error_id(self) -> &'static str {
        match self {
            Section::Base => "base-error",
            Section::Files => "files-error",
            Section::Build => "build-error",
            Section::Push => "push-error",
            Section::Save => "save-error",
        }
    }
}

/// A failed action: where it happened and what to tell the person.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    pub section: Section,
    pub message: String,
}

/// What the page's proxy adds to a refusal an operator can lift.
const ALLOW_HINT: &str = "; to allow it, ";

/// A registry error in words a person can act on: the fix first, where there is one the page
/// knows, then what happened, each URL once.
pub fn registry(e: &Error) -> String {
    let (fix, what) = match e {
        Error::Unauthorized { registry, action, .. } => (
            Some(format!(
                "Check the login for {registry} under \u{201c}Registry logins\u{201d} (username and password, or a token \
                 with the username left empty)"
            )),
            format!("registry {registry} refused the credentials for {action}"),
        ),
        Error::Registry { message: Some(message), .. } if message.contains(ALLOW_HINT) => {
            let (said, allow) = message.split_once(ALLOW_HINT).unwrap_or((message, ""));
            let text = e.to_string().replace(message.as_str(), said);
            (Some(format!("To allow this registry, {}", allow.trim_end_matches('.'))), text)
        }
        _ => (None, e.to_string()),
    };
    let what = once_each_url(&what);
    match fix {
        Some(fix) => format!("{fix}.{FIX_END}{what}"),
        None => what,
    }
}

/// Ends the fix at the head of a message (a line break: the fix shows on a line of its own).
const FIX_END: char = '\n';

/// `message` as what happened while `doing` something: the fix stays first.
pub fn while_doing(doing: &str, message: &str) -> String {
    match message.split_once(FIX_END) {
        Some((fix, what)) => format!("{fix}{FIX_END}{doing}: {what}"),
        None => format!("{doing}: {message}"),
    }
}

/// `text` with every repeat of a parenthesised URL (` (http://…)`) left out.
pub fn once_each_url(text: &str) -> String {
    let mut seen: Vec<String> = Vec::new();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(" (http") {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let Some(end) = from.find(')') else {
            rest = from;
            break;
        };
        let url = &from[2..end];
        if !seen.iter().any(|u| u == url) {
            seen.push(url.to_owned());
            out.push_str(&from[..=end]);
        }
        rest = &from[end + 1..];
    }
    out.push_str(rest);
    out
}
