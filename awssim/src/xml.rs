//! A small XML tree for reading and rewriting query-protocol answers (EC2, IAM): parse,
//! find and change elements, write back.

use quick_xml::escape::escape;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Node>,
}

/// A parsed document: its root element (the declaration is written back as standard).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub root: Element,
}

impl Element {
    pub fn new(name: &str) -> Element {
        Element {
            name: name.to_string(),
            ..Element::default()
        }
    }

    /// `<name>text</name>`.
    pub fn with_text(name: &str, text: &str) -> Element {
        let mut e = Element::new(name);
        e.children.push(Node::Text(text.to_string()));
        e
    }

    pub fn push(&mut self, child: Element) -> &mut Element {
        self.children.push(Node::Element(child));
        self
    }

    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    pub fn elements_mut(&mut self) -> impl Iterator<Item = &mut Element> {
        self.children.iter_mut().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    pub fn child(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.name == name)
    }

    pub fn child_mut(&mut self, name: &str) -> Option<&mut Element> {
        self.elements_mut().find(|e| e.name == name)
    }

    /// The element's text (its text children, concatenated).
    pub fn text(&self) -> String {
        self.children
            .iter()
            .filter_map(|n| match n {
                Node::Text(t) => Some(t.as_str()),
                Node::Element(_) => None,
            })
            .collect()
    }

    pub fn child_text(&self, name: &str) -> Option<String> {
        self.child(name).map(Element::text)
    }

    pub fn set_text(&mut self, text: &str) {
        self.children = vec![Node::Text(text.to_string())];
    }

    /// Sets the text of child `name`, adding the child when missing.
    pub fn set_child_text(&mut self, name: &str, text: &str) {
        match self.child_mut(name) {
            Some(child) => child.set_text(text),
            None => {
                self.push(Element::with_text(name, text));
            }
        }
    }

    /// Calls `f` on this element and every element below it, parents first.
    pub fn walk_mut(&mut self, f: &mut impl FnMut(&mut Element)) {
        f(self);
        for child in self.elements_mut() {
            child.walk_mut(f);
        }
    }

    /// Calls `f` on this element and every element below it, parents first.
    pub fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Element)) {
        f(self);
        for child in self.elements() {
            child.walk(f);
        }
    }

    /// Keeps only the child elements for which `keep` is true (text children stay).
    pub fn retain_elements(&mut self, mut keep: impl FnMut(&Element) -> bool) {
        self.children.retain(|n| match n {
            Node::Element(e) => keep(e),
            Node::Text(_) => true,
        });
    }

    fn write(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        for (k, v) in &self.attrs {
            out.push_str(&format!(" {k}=\"{}\"", escape(v.as_str())));
        }
        if self.children.is_empty() {
            out.push_str(" />");
            return;
        }
        out.push('>');
        for child in &self.children {
            match child {
                Node::Element(e) => e.write(out),
                Node::Text(t) => out.push_str(&escape(t.as_str())),
            }
        }
        out.push_str(&format!("</{}>", self.name));
    }
}

impl Document {
    pub fn parse(bytes: &[u8]) -> Result<Document, String> {
        let mut reader = Reader::from_reader(bytes);
        let mut stack: Vec<Element> = Vec::new();
        let mut root: Option<Element> = None;
        let mut buf = Vec::new();
        loop {
            let event = reader
                .read_event_into(&mut buf)
                .map_err(|e| format!("XML error at {}: {e}", reader.buffer_position()))?;
            match event {
                Event::Start(start) => stack.push(element_of(&start)?),
                Event::Empty(start) => {
                    let e = element_of(&start)?;
                    attach(&mut stack, &mut root, e);
                }
                Event::End(_) => {
                    let e = stack.pop().ok_or("unbalanced end tag")?;
                    attach(&mut stack, &mut root, e);
                }
                Event::Text(text) => {
                    let t = text.unescape().map_err(|e| e.to_string())?.into_owned();
                    if let Some(parent) = stack.last_mut() {
                        parent.children.push(Node::Text(t));
                    }
                }
                Event::CData(data) => {
                    if let Some(parent) = stack.last_mut() {
                        let t = String::from_utf8_lossy(&data).into_owned();
                        parent.children.push(Node::Text(t));
                    }
                }
                Event::Eof => break,
                _ => {}
            }
            buf.clear();
        }
        if !stack.is_empty() {
            return Err("unclosed element".into());
        }
        let mut root = root.ok_or("no root element")?;
        drop_whitespace(&mut root);
        Ok(Document { root })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        self.root.write(&mut out);
        out.into_bytes()
    }
}

/// Whitespace-only text between elements is layout, not content.
fn drop_whitespace(e: &mut Element) {
    let has_elements = e.elements().next().is_some();
    if has_elements {
        e.children.retain(|n| match n {
            Node::Text(t) => !t.trim().is_empty(),
            Node::Element(_) => true,
        });
    }
    for child in e.elements_mut() {
        drop_whitespace(child);
    }
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, e: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(Node::Element(e)),
        None => *root = Some(e),
    }
}

fn element_of(start: &BytesStart<'_>) -> Result<Element, String> {
    let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| e.to_string())?;
        let key = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
        let value = attr
            .unescape_value()
            .map_err(|e| e.to_string())?
            .into_owned();
        attrs.push((key, value));
    }
    Ok(Element {
        name,
        attrs,
        children: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rewrite() {
        let xml = br#"<?xml version='1.0' encoding='utf-8'?>
<DescribeNatGatewaysResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15"><natGatewaySet><item><natGatewayId>nat-1</natGatewayId><state>available</state><tagSet /></item></natGatewaySet></DescribeNatGatewaysResponse>"#;
        let mut doc = Document::parse(xml).unwrap();
        doc.root.walk_mut(&mut |e| {
            if e.child_text("natGatewayId").as_deref() == Some("nat-1") {
                e.set_child_text("state", "pending");
            }
        });
        let text = String::from_utf8(doc.to_bytes()).unwrap();
        assert!(text.contains("<state>pending</state>"), "{text}");
        assert!(text.contains("xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15\""));
        assert!(text.contains("<tagSet />"));
    }

    #[test]
    fn text_is_escaped_both_ways() {
        let doc = Document::parse(b"<a><b>x &amp; y</b></a>").unwrap();
        assert_eq!(doc.root.child_text("b").as_deref(), Some("x & y"));
        assert!(String::from_utf8(doc.to_bytes())
            .unwrap()
            .contains("<b>x &amp; y</b>"));
    }
}
