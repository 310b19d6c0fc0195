//! Surgical edits of XML that libvirt returned, with quick-xml's event reader and writer: the
//! element edited is replaced, every other byte passes through as libvirt wrote it.

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, Writer};

use super::parse;
use super::xml::{Port, esc};
use crate::errors::HypervisorError;

const QEMU_NS: &str = "http://libvirt.org/schemas/domain/qemu/1.0";

fn xml_err(what: &str) -> impl Fn(quick_xml::Error) -> HypervisorError + '_ {
    move |source| HypervisorError::Xml { what: what.to_string(), source }
}

/// Adds (`Some`) or removes (`None`) a QEMU `-smbios type=1,uuid=…` override on a domain's XML,
/// which makes the guest's SMBIOS product_uuid differ from the domain UUID (libvirt's own
/// `<sysinfo>` must match the domain UUID, so the override goes on QEMU's command line).
/// An earlier override is always dropped first.
pub fn with_smbios_uuid(domain_xml: &str, uuid: Option<&str>) -> Result<String, HypervisorError> {
    let err = xml_err("domain (SMBIOS override)");
    let mut reader = Reader::from_str(domain_xml);
    let mut out = Writer::new(Vec::new());
    let mut depth = 0usize;
    // Depth at which a dropped `<qemu:commandline>` opened.
    let mut skipping: Option<usize> = None;
    loop {
        let ev = reader.read_event().map_err(&err)?;
        match &ev {
            Event::Eof => break,
            Event::Start(e) => {
                depth += 1;
                if skipping.is_some() {
                    continue;
                }
                if depth == 2 && e.name().as_ref() == b"qemu:commandline" {
                    skipping = Some(depth);
                    continue;
                }
                if depth == 1 && e.name().as_ref() == b"domain" && uuid.is_some() && !has_attr(e, b"xmlns:qemu") {
                    let mut e = e.clone();
                    e.push_attribute(("xmlns:qemu", QEMU_NS));
                    out.write_event(Event::Start(e)).map_err(|e| err(e.into()))?;
                    continue;
                }
            }
            Event::End(e) => {
                if let Some(d) = skipping {
                    if depth == d {
                        skipping = None;
                    }
                    depth -= 1;
                    continue;
                }
                if depth == 1
                    && e.name().as_ref() == b"domain"
                    && let Some(u) = uuid
                {
                    let block = format!(
                        "<qemu:commandline><qemu:arg value='-smbios'/><qemu:arg value='type=1,uuid={}'/></qemu:commandline>",
                        esc(u)
                    );
                    out.get_mut().extend_from_slice(block.as_bytes());
                }
                depth -= 1;
            }
            _ if skipping.is_some() => continue,
            _ => {}
        }
        out.write_event(ev).map_err(|e| err(e.into()))?;
    }
    Ok(String::from_utf8(out.into_inner()).expect("UTF-8 in, UTF-8 out"))
}

/// Changes a domain's type (`kvm` ↔ `qemu`) and drops its `<cpu>` element (host-passthrough
/// is KVM-only), every other byte as it was.
pub fn retype(domain_xml: &str, domain_type: &str) -> String {
    let mut s = domain_xml.to_string();
    if let Some(r) = parse::root_attr_value_range(&s, "type") {
        s.replace_range(r, &esc(domain_type));
    }
    if let Some(r) = parse::first_element_range(&s, "cpu") {
        s.replace_range(r, "");
    }
    s
}

/// Replaces the `<filterref>` of the interface with MAC `mac` in a domain XML by `port`'s (for
/// redefining a domain, e.g. a cold restart, without losing or changing its port); adds one
/// when it has none. Every other byte as it was.
pub fn with_port(domain_xml: &str, mac: &str, port: &Port) -> String {
    let Some(r) = parse::interface_range(domain_xml, mac) else { return domain_xml.to_string() };
    let el = &domain_xml[r.clone()];
    let new = match parse::first_element_range(el, "filterref") {
        Some(f) => format!("{}{}{}", &el[..f.start], port.filterref().trim_start(), &el[f.end..]),
        None => match el.rfind("</interface>") {
            Some(i) => format!("{}{}\n{}", &el[..i], port.filterref(), &el[i..]),
            None => el.to_string(),
        },
    };
    format!("{}{new}{}", &domain_xml[..r.start], &domain_xml[r.end..])
}

fn has_attr(e: &BytesStart<'_>, name: &[u8]) -> bool {
    e.attributes().flatten().any(|a| a.key.as_ref() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A domain as libvirt 9 prints it (`virsh dumpxml`), shortened: a comment, the kubelab
    /// metadata namespace, self-closing and nested elements.
    const DOMAIN: &str = "<domain type='qemu' id='3'>\n  <name>kubelab-node2</name>\n  <uuid>4b0e6b0e-2d1f-4c3a-9a55-0c6f3a1e9b21</uuid>\n  <metadata>\n    <kubelab:lab xmlns:kubelab=\"https://kubelab.invalid/xmlns/lab/1\" name=\"kubelab\" node=\"node2\"/>\n  </metadata>\n  <!-- a comment -->\n  <devices>\n    <interface type='network'>\n      <mac address='52:54:00:12:34:56'/>\n    </interface>\n  </devices>\n</domain>\n";

    #[test]
    fn without_an_override_every_byte_passes_through() {
        assert_eq!(with_smbios_uuid(DOMAIN, None).unwrap(), DOMAIN);
    }

    #[test]
    fn smbios_override_is_added_once_and_removed() {
        let u = "11111111-2222-3333-4444-555555555555";
        let y = with_smbios_uuid(DOMAIN, Some(u)).unwrap();
        assert!(y.starts_with(&format!("<domain type='qemu' id='3' xmlns:qemu=\"{QEMU_NS}\">")), "{y}");
        assert!(y.ends_with(&format!("<qemu:arg value='type=1,uuid={u}'/></qemu:commandline></domain>\n")), "{y}");
        // Applying it again replaces the override instead of adding a second one.
        let twice = with_smbios_uuid(&y, Some("a")).unwrap();
        assert_eq!(twice.matches("<qemu:commandline>").count(), 1, "{twice}");
        assert!(twice.contains("uuid=a'") && !twice.contains(u));
        // Removing it leaves the domain as it was (the namespace declaration stays, harmless).
        let z = with_smbios_uuid(&y, None).unwrap();
        assert_eq!(z.replace(&format!(" xmlns:qemu=\"{QEMU_NS}\""), ""), DOMAIN);
    }

    #[test]
    fn broken_xml_is_an_error_naming_it() {
        let e = with_smbios_uuid("<domain><name>x</domain>", None).unwrap_err();
        assert!(e.to_string().contains("domain (SMBIOS override)"), "{e}");
        assert!(std::error::Error::source(&e).is_some(), "the parser's error is the source");
    }
}
