//! The server log, in redis-server's line format:
//! `<pid>:<role> <day> <Mon> <year> <hh:mm:ss.mmm> <level> <message>`.

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

use parking_lot::Mutex;

use crate::config::Config;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug = 0,
    Verbose = 1,
    Notice = 2,
    Warning = 3,
}

impl Level {
    fn mark(self) -> char {
        match self {
            Level::Debug => '.',
            Level::Verbose => '-',
            Level::Notice => '*',
            Level::Warning => '#',
        }
    }
}

pub struct Logger {
    level: AtomicU8,
    /// Empty: standard output.
    path: Mutex<String>,
    /// The role letter of each line: 'M' (master) or 'S' (replica).
    role: std::sync::atomic::AtomicU8,
}

impl Logger {
    pub fn new(config: &Config) -> Logger {
        let logger = Logger { level: AtomicU8::new(Level::Notice as u8), path: Mutex::new(String::new()), role: AtomicU8::new(b'M') };
        logger.refresh(config);
        logger
    }

    pub fn refresh(&self, config: &Config) {
        if let crate::config::Value::Enum(i) = config.get("loglevel") {
            self.level.store(i as u8, Ordering::Relaxed);
        }
        *self.path.lock() = config.get_string("logfile");
    }

    pub fn enabled(&self, level: Level) -> bool {
        level as u8 >= self.level.load(Ordering::Relaxed)
    }

    pub fn log(&self, level: Level, message: &str) {
        if !self.enabled(level) {
            return;
        }
        let role = self.role.load(Ordering::Relaxed) as char;
        let line = format!("{}:{role} {} {} {}\n", std::process::id(), timestamp(), level.mark(), message);
        let path = self.path.lock();
        if path.is_empty() {
            let _ = std::io::stdout().lock().write_all(line.as_bytes());
            let _ = std::io::stdout().flush();
        } else if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(&*path) {
            let _ = f.write_all(line.as_bytes());
        }
    }

    /// Lines say 'S' while the server is a replica, as Redis's do.
    pub fn set_replica(&self, replica: bool) {
        self.role.store(if replica { b'S' } else { b'M' }, Ordering::Relaxed);
    }

    pub fn notice(&self, message: &str) {
        self.log(Level::Notice, message);
    }

    pub fn warning(&self, message: &str) {
        self.log(Level::Warning, message);
    }

    pub fn verbose(&self, message: &str) {
        self.log(Level::Verbose, message);
    }
}

/// "25 Nov 2026 12:00:00.123" in local time.
fn timestamp() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    let millis = now.subsec_millis();
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let mut buf = [0u8; 64];
    // SAFETY: valid pointers; strftime writes at most buf.len() bytes.
    let n = unsafe {
        libc::localtime_r(&secs, &mut tm);
        libc::strftime(buf.as_mut_ptr() as *mut libc::c_char, buf.len(), c"%d %b %Y %H:%M:%S".as_ptr(), &tm)
    };
    format!("{}.{millis:03}", String::from_utf8_lossy(&buf[..n]))
}
