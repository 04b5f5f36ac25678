//! One module per subcommand.

pub mod append;
pub mod completions;
pub mod copy;
pub mod export;
pub mod gc;
pub mod images;
pub mod inspect;
pub mod layer;
pub mod load;
pub mod login;
pub mod logout;
pub mod ls;
pub mod pull;
pub mod push;
pub mod rmi;
pub mod save;
pub mod tag;
pub mod transfer;
pub mod unpack;
