//! The image list of `kiln.yaml`: `images:`, or the older layout's
//! `builder: {images: [...]}`, and its entries; what is wrong with either
//! is recorded where it is written.

use serde_yaml::Value;

use super::read::{Ctx, Fields};
use crate::config::positions::{NodePath, Pos};
use crate::config::yaml::untag;

const OLD_BUILDER_FIELDS: &[&str] = &["images"];

/// The list of image entries, and where it is.
pub(super) struct ImageList<'v> {
    pub(super) value: &'v Value,
    pub(super) path: NodePath,
    /// Under the older `builder: {images: ...}` layout, whose entries also
    /// know `from`.
    pub(super) older_layout: bool,
}

impl Ctx<'_> {
    /// The `images:` list, or the older layout's `builder: {images: ...}`;
    /// `None` (with the reason recorded) when there is none to use.
    pub(super) fn image_list<'v>(&mut self, f: &Fields<'v>) -> Option<ImageList<'v>> {
        let images = f.get("images").map(|(value, p)| ImageList {
            value,
            path: p.clone(),
            older_layout: false,
        });
        let list = match f.get("builder") {
            Some((b, bp)) => self.older_layout_list(b, bp, images),
            None => images,
        };
        if list.is_none() && !f.map.contains_key("builder") {
            self.no_images(f);
        }
        list
    }

    /// The list under a top-level `builder:` (the older layout), unless
    /// `images:` is there too or `builder` is not that mapping (errors
    /// recorded; `images` stays the list).
    fn older_layout_list<'v>(
        &mut self,
        builder: &'v Value,
        path: &NodePath,
        images: Option<ImageList<'v>>,
    ) -> Option<ImageList<'v>> {
        match untag(builder) {
            Value::Mapping(_) if images.is_some() => {
                let at = self.pos.key(path);
                self.error(
                    at,
                    "use either 'images' or the older 'builder: {images: ...}', not both",
                );
                images
            }
            Value::Mapping(m) => {
                let bf = self.fields(m, path, OLD_BUILDER_FIELDS, false);
                match bf.get("images") {
                    Some((value, p)) => Some(ImageList {
                        value,
                        path: p.clone(),
                        older_layout: true,
                    }),
                    None => {
                        let at = self.pos.key(path);
                        self.error(at, "'builder' is missing its 'images' list");
                        None
                    }
                }
            }
            _ => {
                let at = self.pos.value(path);
                self.error(
                    at,
                    "top-level 'builder' must be a mapping with 'images' (the older layout); \
                     to choose a builder, set 'defaults.builder'",
                );
                images
            }
        }
    }

    /// No images at all: `images:` with nothing after it, or no `images:`.
    fn no_images(&mut self, f: &Fields<'_>) {
        match f.map.get("images") {
            // `images:` with nothing after it: point at the key, not at the
            // empty value (which yaml_rust2 places on the next line).
            Some((_, p)) => {
                let at = self.pos.key(p);
                self.error(at, "'images' is empty; define at least one image");
            }
            None => self.error(Pos::START, "no images defined: add an 'images:' list"),
        }
    }

    /// The entries of the image list: a non-empty sequence.
    pub(super) fn image_entries<'v>(&mut self, list: &ImageList<'v>) -> Option<&'v [Value]> {
        let Value::Sequence(entries) = untag(list.value) else {
            let at = self.pos.value(&list.path);
            self.error(at, "'images' must be a list of image entries");
            return None;
        };
        if entries.is_empty() {
            let at = self.pos.value(&list.path);
            self.error(at, "'images' is empty; define at least one image");
            return None;
        }
        Some(entries)
    }
}
