//! One module per subcommand.

pub mod append;
pub mod inspect;
pub mod layer;
pub mod load;
pub mod ls;
pub mod save;
