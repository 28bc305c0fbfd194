//! One module per subcommand.

pub mod check;
pub mod export;
pub mod heal;
pub mod lab;
pub mod report;
pub mod serve;
pub mod sweep;
