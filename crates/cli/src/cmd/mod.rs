//! One module per subcommand.

pub mod append;
pub mod layer;
