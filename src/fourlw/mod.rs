//! fourlw (placeholder, replaced below)
/// Every four-letter word Apache ZooKeeper 3.9 recognises (digest §16.1).
pub const WORDS: [&str; 18] = [
    "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "ruok", "stmk", "srst", "srvr", "stat",
    "wchc", "wchp", "wchs", "mntr", "isro", "hash",
];
