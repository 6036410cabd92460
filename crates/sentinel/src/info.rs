//! Reading the INFO reply of a master or replica: the handful of fields a sentinel acts on.

use crate::types::Addr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportedRole {
    Master,
    Replica,
}

/// What one INFO reply says. Fields absent from the reply keep the values a missing field
/// means to redis-sentinel (no run id, link down for 0 ms, priority 100, announced).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InfoReport {
    pub run_id: Option<String>,
    pub role: Option<ReportedRole>,
    /// A master's connected replicas (`slaveN:ip=...,port=...`).
    pub replicas: Vec<Addr>,
    pub master_link_down_ms: i64,
    pub master_host: Option<String>,
    pub master_port: Option<u16>,
    pub master_link_up: bool,
    pub priority: Option<u32>,
    pub repl_offset: Option<u64>,
    pub announced: Option<bool>,
    /// `master_fenced:1`: a Shoal master that restarted with `master-fence-on-restart` and
    /// takes no writes until a sentinel lifts the fence.
    pub fenced: bool,
}

/// Run ids are 40 hex characters; redis-sentinel takes the first 40 of the field.
const RUN_ID_LEN: usize = 40;

impl InfoReport {
    pub fn parse(text: &str) -> InfoReport {
        let mut report = InfoReport {
            run_id: None,
            role: None,
            replicas: Vec::new(),
            master_link_down_ms: 0,
            master_host: None,
            master_port: None,
            master_link_up: false,
            priority: None,
            repl_offset: None,
            announced: None,
            fenced: false,
        };
        for line in text.split("\r\n").flat_map(|l| l.split('\n')) {
            report.read_line(line.trim_end_matches('\r'));
        }
        report
    }

    fn read_line(&mut self, line: &str) {
        let Some((field, value)) = line.split_once(':') else { return };
        match field {
            "run_id" if value.len() >= RUN_ID_LEN => self.run_id = Some(value[..RUN_ID_LEN].to_string()),
            "role" if value.starts_with("master") => self.role = Some(ReportedRole::Master),
            "role" if value.starts_with("slave") => self.role = Some(ReportedRole::Replica),
            "master_fenced" => self.fenced = value.trim() == "1",
            "master_link_down_since_seconds" => {
                self.master_link_down_ms = value.parse::<i64>().unwrap_or(0).saturating_mul(1000)
            }
            _ if field.starts_with("slave") && field[5..].bytes().all(|b| b.is_ascii_digit()) && field.len() > 5 => {
                if let Some(addr) = replica_line(value) {
                    self.replicas.push(addr);
                }
            }
            _ if self.role == Some(ReportedRole::Replica) => self.read_replica_field(field, value),
            _ => {}
        }
    }

    /// Fields redis-sentinel reads only once the reply said `role:slave`.
    fn read_replica_field(&mut self, field: &str, value: &str) {
        match field {
            "master_host" => self.master_host = Some(value.to_string()),
            "master_port" => self.master_port = value.parse().ok(),
            "master_link_status" => self.master_link_up = value.eq_ignore_ascii_case("up"),
            "slave_priority" => self.priority = value.parse().ok(),
            "slave_repl_offset" => self.repl_offset = value.parse().ok(),
            "replica_announced" => self.announced = Some(value.trim() != "0"),
            _ => {}
        }
    }
}

/// `ip=127.0.0.1,port=6380,state=online,...` (or the old `ip,port,state` form).
fn replica_line(value: &str) -> Option<Addr> {
    if value.contains("ip=") {
        let mut ip = None;
        let mut port = None;
        for part in value.split(',') {
            if let Some(v) = part.strip_prefix("ip=") {
                ip = Some(v);
            } else if let Some(v) = part.strip_prefix("port=") {
                port = v.parse().ok();
            }
        }
        Some(Addr::new(ip?, port?))
    } else {
        let mut parts = value.split(',');
        let ip = parts.next()?;
        let port = parts.next()?.parse().ok()?;
        parts.next()?;
        Some(Addr::new(ip, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_info() {
        let text = "# Server\r\nrun_id:0123456789012345678901234567890123456789\r\n# Replication\r\nrole:master\r\n\
                    connected_slaves:2\r\nslave0:ip=127.0.0.1,port=6380,state=online,offset=10,lag=0\r\n\
                    slave1:10.0.0.2,6381,online\r\nmaster_failover_state:no-failover\r\n";
        let report = InfoReport::parse(text);
        assert_eq!(report.run_id.as_deref(), Some("0123456789012345678901234567890123456789"));
        assert_eq!(report.role, Some(ReportedRole::Master));
        assert_eq!(report.replicas, vec![Addr::new("127.0.0.1", 6380), Addr::new("10.0.0.2", 6381)]);
        assert_eq!(report.master_host, None);
    }

    #[test]
    fn replica_info() {
        let text = "run_id:short\r\nrole:slave\r\nmaster_host:10.0.0.1\r\nmaster_port:6379\r\n\
                    master_link_status:up\r\nmaster_link_down_since_seconds:3\r\nslave_repl_offset:4242\r\n\
                    slave_priority:0\r\nreplica_announced:0\r\n";
        let report = InfoReport::parse(text);
        assert_eq!(report.run_id, None);
        assert_eq!(report.role, Some(ReportedRole::Replica));
        assert_eq!(report.master_host.as_deref(), Some("10.0.0.1"));
        assert_eq!(report.master_port, Some(6379));
        assert!(report.master_link_up);
        assert_eq!(report.master_link_down_ms, 3000);
        assert_eq!(report.repl_offset, Some(4242));
        assert_eq!(report.priority, Some(0));
        assert_eq!(report.announced, Some(false));
    }

    #[test]
    fn a_fenced_master() {
        assert!(InfoReport::parse("role:master\r\nmaster_fenced:1\r\nconnected_slaves:0\r\n").fenced);
        assert!(!InfoReport::parse("role:master\r\nmaster_fenced:0\r\n").fenced);
        assert!(!InfoReport::parse("role:master\r\nconnected_slaves:0\r\n").fenced);
    }

    #[test]
    fn replica_fields_before_role_are_ignored() {
        let report = InfoReport::parse("master_host:10.0.0.1\r\nrole:slave\r\n");
        assert_eq!(report.master_host, None);
    }
}
