//! The OVF descriptor of an OVA: References/File, DiskSection/Disk, and the order in which the
//! VirtualSystem's hardware items attach the disks.

use crate::block::BlockError;
use quick_xml::Reader;
use quick_xml::events::Event;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileRef {
    pub id: String,
    pub href: String,
    pub size: Option<u64>,
    pub chunk_size: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Disk {
    pub disk_id: String,
    pub file_ref: String,
    pub capacity: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Ovf {
    pub files: Vec<FileRef>,
    pub disks: Vec<Disk>,
    /// diskIds in the order the VirtualSystem attaches them (rasd:HostResource).
    pub attach_order: Vec<String>,
}

const MAX_ITEMS: usize = 10_000;

fn local(name: &[u8]) -> &[u8] {
    match name.iter().rposition(|&c| c == b':') {
        Some(i) => name.get(i + 1..).unwrap_or(name),
        None => name,
    }
}

pub fn parse(xml: &[u8], path: &str) -> Result<Ovf, BlockError> {
    let mut r = Reader::from_reader(xml);
    let mut ovf = Ovf::default();
    let mut buf = Vec::new();
    let mut in_host_resource = false;
    let err = |e: String| BlockError::corrupt(path, format!("OVF descriptor: {e}"));
    loop {
        let ev = r
            .read_event_into(&mut buf)
            .map_err(|e| err(e.to_string()))?;
        match &ev {
            Event::Start(e) | Event::Empty(e) => {
                let n = e.name();
                let ln = local(n.as_ref()).to_vec();
                let mut attrs: Vec<(Vec<u8>, String)> = Vec::new();
                for a in e.attributes().flatten() {
                    let v = a
                        .unescape_value()
                        .map(|c| c.into_owned())
                        .unwrap_or_default();
                    attrs.push((local(a.key.as_ref()).to_vec(), v));
                }
                let get = |k: &[u8]| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                match ln.as_slice() {
                    b"File" => {
                        if ovf.files.len() >= MAX_ITEMS {
                            return Err(err("too many File elements".into()));
                        }
                        ovf.files.push(FileRef {
                            id: get(b"id").unwrap_or_default(),
                            href: get(b"href").unwrap_or_default(),
                            size: get(b"size").and_then(|s| s.parse().ok()),
                            chunk_size: get(b"chunkSize").and_then(|s| s.parse().ok()),
                        });
                    }
                    b"Disk" => {
                        if ovf.disks.len() >= MAX_ITEMS {
                            return Err(err("too many Disk elements".into()));
                        }
                        ovf.disks.push(Disk {
                            disk_id: get(b"diskId").unwrap_or_default(),
                            file_ref: get(b"fileRef").unwrap_or_default(),
                            capacity: get(b"capacity"),
                        });
                    }
                    b"HostResource" => in_host_resource = matches!(ev, Event::Start(_)),
                    _ => {}
                }
            }
            Event::Text(t) if in_host_resource => {
                let s = t.unescape().map(|c| c.into_owned()).unwrap_or_default();
                let s = s.trim();
                let id = s
                    .strip_prefix("ovf:/disk/")
                    .or_else(|| s.strip_prefix("/disk/"))
                    .map(str::to_string);
                if let Some(id) = id {
                    if ovf.attach_order.len() < MAX_ITEMS && !ovf.attach_order.contains(&id) {
                        ovf.attach_order.push(id);
                    }
                }
            }
            Event::End(_) => in_host_resource = false,
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(ovf)
}

impl Ovf {
    /// The disks in VM order: those attached by the VirtualSystem first (in attach order), then
    /// any remaining ones in DiskSection order.
    pub fn ordered_disks(&self) -> Vec<Disk> {
        let mut out: Vec<Disk> = Vec::new();
        for id in &self.attach_order {
            if let Some(d) = self.disks.iter().find(|d| &d.disk_id == id) {
                out.push(d.clone());
            }
        }
        for d in &self.disks {
            if !out.iter().any(|o| o.disk_id == d.disk_id) {
                out.push(d.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn disk_order_follows_the_virtual_system() {
        let x = br#"<?xml version="1.0"?><Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="x">
<References><File ovf:id="f1" ovf:href="a.vmdk"/><File ovf:id="f2" ovf:href="b.vmdk" ovf:chunkSize="1000"/></References>
<DiskSection><Disk ovf:diskId="d1" ovf:fileRef="f1" ovf:capacity="1"/><Disk ovf:diskId="d2" ovf:fileRef="f2"/></DiskSection>
<VirtualSystem><VirtualHardwareSection><Item><rasd:HostResource>ovf:/disk/d2</rasd:HostResource></Item>
<Item><rasd:HostResource>ovf:/disk/d1</rasd:HostResource></Item></VirtualHardwareSection></VirtualSystem></Envelope>"#;
        let o = parse(x, "t.ovf").unwrap();
        let ids: Vec<_> = o.ordered_disks().into_iter().map(|d| d.disk_id).collect();
        assert_eq!(ids, ["d2", "d1"]);
        assert_eq!(o.files[1].chunk_size, Some(1000));
        assert_eq!(o.files[0].href, "a.vmdk");
    }
}
