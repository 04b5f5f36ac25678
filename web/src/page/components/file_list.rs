//! A virtualised list of file entries, for one layer's members and for the merged filesystem:
//! a fixed-height scroll box holds a spacer as tall as all rows, and only the rows in view
//! (plus a margin) are in the DOM, so 100 000 entries cost memory for the entries but not DOM
//! nodes. Regular files can have a download button.

use layerize_core::flatten::MergedEntry;
use leptos::prelude::*;

use super::inspect::human;
use layerize_core::layer::read::StoredEntry;

/// Height of one row in pixels (the CSS gives `.file-list-row` this height).
const ROW_PX: i32 = 22;
/// Rows the scroll box shows at once.
const VIEW_ROWS: usize = 20;
/// Rows rendered above and below the visible ones, so fast scrolling shows no gaps.
const OVERSCAN: usize = 10;

/// What a row shows; implemented by both kinds of listing.
pub trait FileRow: Clone + Send + Sync + 'static {
    fn path(&self) -> &str;
    /// `file`, `dir`, `symlink`, … (the core's kind names).
    fn kind(&self) -> &str;
    fn size(&self) -> u64;
    fn mode(&self) -> u32;
    fn owner(&self) -> String;
    /// A link's target, or what a whiteout deletes.
    fn target(&self) -> Option<String>;
    /// The layer it comes from, in a merged listing.
    fn layer(&self) -> Option<usize>;
}

impl FileRow for StoredEntry {
    fn path(&self) -> &str {
        &self.path
    }
    fn kind(&self) -> &str {
        self.kind.name()
    }
    fn size(&self) -> u64 {
        self.size
    }
    fn mode(&self) -> u32 {
        self.mode
    }
    fn owner(&self) -> String {
        format!("{}:{}", self.uid, self.gid)
    }
    fn target(&self) -> Option<String> {
        self.kind.detail()
    }
    fn layer(&self) -> Option<usize> {
        None
    }
}

impl FileRow for MergedEntry {
    fn path(&self) -> &str {
        &self.path
    }
    fn kind(&self) -> &str {
        self.kind.name()
    }
    fn size(&self) -> u64 {
        self.size
    }
    fn mode(&self) -> u32 {
        self.mode
    }
    fn owner(&self) -> String {
        format!("{}:{}", self.uid, self.gid)
    }
    fn target(&self) -> Option<String> {
        self.kind.detail()
    }
    fn layer(&self) -> Option<usize> {
        Some(self.layer)
    }
}

/// The list box `id` of `entries`, rows of class `row_class`; with `on_download`, regular
/// files get a download button that passes their entry.
#[component]
pub fn FileList<T: FileRow>(
    id: &'static str,
    row_class: &'static str,
    #[prop(into)] entries: Signal<Vec<T>>,
    #[prop(optional)] on_download: Option<Callback<T>>,
) -> impl IntoView {
    let scroll_top = RwSignal::new(0i32);
    let merged = move || entries.with(|e| e.first().is_some_and(|e| e.layer().is_some()));
    let rows = move || {
        let first = (scroll_top.get().max(0) / ROW_PX) as usize;
        let first = first.saturating_sub(OVERSCAN);
        entries.with(|all| {
            all.iter()
                .enumerate()
                .skip(first)
                .take(VIEW_ROWS + 2 * OVERSCAN)
                .map(|(i, e)| {
                    let top = format!("top: {}px", i as i32 * ROW_PX);
                    let is_file = e.kind() == "file";
                    // A merged hardlink shows its target's size, as `ls --merged` does.
                    let sized = is_file || e.kind() == "hardlink";
                    let download = on_download.filter(|_| is_file).map(|callback| {
                        let entry = e.clone();
                        view! { <button class="download" title="Download this file" on:click=move |_| callback.run(entry.clone())>"⤓"</button> }
                    });
                    view! {
                        <div class=format!("{row_class} file-list-row") style=top>
                            <span class="path" title=e.path().to_owned()><code>{e.path().to_owned()}</code></span>
                            <span class="kind">{e.kind().to_owned()}</span>
                            <span class="num size" data-bytes=sized.then(|| e.size().to_string())>{sized.then(|| human(e.size()))}</span>
                            <span class="mode"><code>{format!("{:04o}", e.mode())}</code></span>
                            <span class="owner">{e.owner()}</span>
                            <span class="target">{e.target().map(|t| view! { <code>{t}</code> })}</span>
                            <span class="layer">{e.layer().map(|l| format!("L{l}"))}</span>
                            <span class="get">{download}</span>
                        </div>
                    }
                })
                .collect_view()
        })
    };
    let height = move || format!("height: {}px", entries.with(|e| e.len()) as i32 * ROW_PX);
    let on_scroll = move |ev: web_sys::Event| {
        let el: web_sys::Element = event_target(&ev);
        scroll_top.set(el.scroll_top());
    };
    view! {
        <div class="file-list-row file-list-header">
            <span>"Path"</span><span>"Type"</span><span class="num">"Size"</span><span>"Mode"</span><span>"Owner"</span><span>"Target"</span>
            <span>{move || merged().then_some("Layer")}</span><span></span>
        </div>
        <div id=id class="file-list" style=format!("max-height: {}px", VIEW_ROWS as i32 * ROW_PX) on:scroll=on_scroll>
            <div class="spacer" style=height>{rows}</div>
        </div>
    }
}
