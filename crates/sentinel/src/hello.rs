//! The hello message sentinels publish on `__sentinel__:hello` every two seconds: who the
//! sender is, its current epoch, and the master configuration it believes in.

use crate::addr::Addr;

/// `ip,port,runid,current_epoch,master_name,master_ip,master_port,master_config_epoch`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Hello {
    /// The sender's announced IP, or `None` when the driver must use the local address of the
    /// connection the message leaves on (what redis-sentinel does without `announce-ip`).
    pub ip: Option<String>,
    pub port: u16,
    pub runid: String,
    pub current_epoch: u64,
    pub master_name: String,
    pub master_addr: Addr,
    pub master_config_epoch: u64,
}

impl Hello {
    /// The payload, with `local_ip` standing in for an unannounced IP.
    pub fn format(&self, local_ip: &str) -> String {
        format!(
            "{},{},{},{},{},{},{},{}",
            self.ip.as_deref().unwrap_or(local_ip),
            self.port,
            self.runid,
            self.current_epoch,
            self.master_name,
            self.master_addr.host,
            self.master_addr.port,
            self.master_config_epoch
        )
    }

    /// Parses a payload; `None` unless it has exactly eight fields with numbers where
    /// numbers belong.
    pub fn parse(payload: &str) -> Option<Hello> {
        let fields: Vec<&str> = payload.split(',').collect();
        let [ip, port, runid, epoch, name, master_ip, master_port, config_epoch] = fields[..] else {
            return None;
        };
        Some(Hello {
            ip: Some(ip.to_string()),
            port: port.parse().ok()?,
            runid: runid.to_string(),
            current_epoch: epoch.parse().ok()?,
            master_name: name.to_string(),
            master_addr: Addr::new(master_ip, master_port.parse().ok()?),
            master_config_epoch: config_epoch.parse().ok()?,
        })
    }

    /// The sender's address as announced.
    pub fn sender(&self) -> Addr {
        Addr::new(self.ip.clone().unwrap_or_default(), self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let hello = Hello {
            ip: None,
            port: 26379,
            runid: "a".repeat(40),
            current_epoch: 7,
            master_name: "mymaster".into(),
            master_addr: Addr::new("10.0.0.1", 6379),
            master_config_epoch: 5,
        };
        let text = hello.format("127.0.0.1");
        assert_eq!(text, format!("127.0.0.1,26379,{},7,mymaster,10.0.0.1,6379,5", "a".repeat(40)));
        let parsed = Hello::parse(&text).unwrap();
        assert_eq!(parsed.ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(parsed.master_addr, hello.master_addr);
        assert_eq!(parsed.master_config_epoch, 5);
        assert!(Hello::parse("1,2,3").is_none());
        assert!(Hello::parse("ip,notaport,r,1,m,h,1,1").is_none());
        assert!(Hello::parse("ip,1,r,1,m,h,1,1,extra").is_none());
    }
}
