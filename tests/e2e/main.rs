//! layerize's end-to-end tests: one binary, one module per area, all against real services
//! started by the harness in `tests/harness`.

mod append;
mod append_stream;
mod archive;
mod bad_input;
mod cli;
mod copy;
mod files;
mod harness_selftest;
mod hostile;
mod inspect;
mod layer;
mod login;
mod page;
mod page_all_platforms;
mod page_bench;
mod page_files;
mod page_first_use;
mod page_inspect;
mod page_save;
mod page_state;
mod progress;
mod proxy;
mod proxy_hops;
mod resume;
mod server_image;
mod store;
mod unpack;
