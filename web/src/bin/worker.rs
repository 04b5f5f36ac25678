//! The layer Web Worker's entry (trunk builds it as `data-type="worker"`): the jobs are in
//! `layerize_web::worker`.

fn main() {
    layerize_web::worker::run();
}
