//! The two macros that declare RM classes (`rm_struct!`) and polymorphic families
//! (`rm_enum!`). Each class is written once; the macros generate the Rust type, its serde
//! `Deserialize` (a hand-rolled visitor with a `_type` fast path and clear errors), its
//! `Serialize` (through reflection, see `json.rs`) and its reflection metadata.
//!
//! Field kinds: `man` (RM-mandatory, object or primitive: `Option` in memory, so that a value
//! missing or `null` decodes and the validator reports it with its path, with every other
//! issue), `opt`, `list`, and `mlist` (a list the RM requires to be non-empty).

macro_rules! rm_field_ty {
    (man $t:ty) => { Option<$t> };
    (opt $t:ty) => { Option<$t> };
    (list $t:ty) => { Vec<$t> };
    (mlist $t:ty) => { Vec<$t> };
}

macro_rules! rm_local_ty {
    (man $t:ty) => { Option<$t> };
    (opt $t:ty) => { Option<$t> };
    (list $t:ty) => { Option<Vec<$t>> };
    (mlist $t:ty) => { Option<Vec<$t>> };
}

macro_rules! rm_read {
    ($map:ident, man $t:ty) => {
        $map.next_value_seed($crate::field::Maybe::<$t>::new())?
    };
    ($map:ident, opt $t:ty) => {
        $map.next_value_seed($crate::field::Maybe::<$t>::new())?
    };
    ($map:ident, list $t:ty) => {
        Some($map.next_value::<Option<Vec<$t>>>()?.unwrap_or_default())
    };
    ($map:ident, mlist $t:ty) => {
        Some($map.next_value::<Option<Vec<$t>>>()?.unwrap_or_default())
    };
}

macro_rules! rm_finish {
    ($v:ident, man) => {
        $v
    };
    ($v:ident, opt) => {
        $v
    };
    ($v:ident, list) => {
        $v.unwrap_or_default()
    };
    ($v:ident, mlist) => {
        $v.unwrap_or_default()
    };
}

macro_rules! rm_kind {
    (man) => {
        $crate::meta::AttrKind::Mandatory
    };
    (opt) => {
        $crate::meta::AttrKind::Optional
    };
    (list) => {
        $crate::meta::AttrKind::List
    };
    (mlist) => {
        $crate::meta::AttrKind::MandatoryList
    };
}

macro_rules! rm_attr {
    ($e:expr, man) => {
        match $e {
            Some(v) => $crate::meta::Attr::One($crate::meta::AsValue::as_value(v)),
            None => $crate::meta::Attr::Absent,
        }
    };
    ($e:expr, opt) => {
        rm_attr!($e, man)
    };
    ($e:expr, list) => {
        if $e.is_empty() {
            $crate::meta::Attr::Absent
        } else {
            $crate::meta::Attr::Many($e)
        }
    };
    ($e:expr, mlist) => {
        rm_attr!($e, list)
    };
}

/// Declares one RM class. A leading keyword prepends the attributes the class inherits, in
/// RM/XSD order: `locatable` (LOCATABLE), `entry` (LOCATABLE + ENTRY), `care_entry` (… +
/// CARE_ENTRY), `ordered` (DV_ORDERED), `quantified` (… + DV_QUANTIFIED), `amount` (… +
/// DV_AMOUNT) and `temporal` (… + DV_TEMPORAL).
macro_rules! rm_struct {
    (
        $(#[$m:meta])*
        entry $name:ident = $rm:literal {
            $( $f:ident $json:literal : $kind:ident $ty:ty ),* $(,)?
        }
    ) => {
        rm_struct! {
            $(#[$m])*
            locatable $name = $rm {
                language "language": man $crate::CodePhrase,
                encoding "encoding": man $crate::CodePhrase,
                subject "subject": man $crate::PartyProxy,
                provider "provider": opt $crate::PartyProxy,
                other_participations "other_participations": list $crate::Participation,
                workflow_id "workflow_id": opt $crate::AnyObjectRef,
                $( $f $json : $kind $ty ),*
            }
        }
    };
    (
        $(#[$m:meta])*
        care_entry $name:ident = $rm:literal {
            $( $f:ident $json:literal : $kind:ident $ty:ty ),* $(,)?
        }
    ) => {
        rm_struct! {
            $(#[$m])*
            entry $name = $rm {
                protocol "protocol": opt $crate::ItemStructure,
                guideline_id "guideline_id": opt $crate::AnyObjectRef,
                $( $f $json : $kind $ty ),*
            }
        }
    };
    (
        $(#[$m:meta])*
        ordered $name:ident = $rm:literal {
            $( $f:ident $json:literal : $kind:ident $ty:ty ),* $(,)?
        }
    ) => {
        rm_struct! {
            $(#[$m])*
            $name = $rm {
                normal_range "normal_range": opt $crate::DvInterval,
                other_reference_ranges "other_reference_ranges": list $crate::ReferenceRange,
                normal_status "normal_status": opt Box<$crate::CodePhrase>,
                $( $f $json : $kind $ty ),*
            }
        }
    };
    (
        $(#[$m:meta])*
        quantified $name:ident = $rm:literal {
            $( $f:ident $json:literal : $kind:ident $ty:ty ),* $(,)?
        }
    ) => {
        rm_struct! {
            $(#[$m])*
            ordered $name = $rm {
                magnitude_status "magnitude_status": opt String,
                $( $f $json : $kind $ty ),*
            }
        }
    };
    (
        $(#[$m:meta])*
        amount $name:ident = $rm:literal {
            $( $f:ident $json:literal : $kind:ident $ty:ty ),* $(,)?
        }
    ) => {
        rm_struct! {
            $(#[$m])*
            quantified $name = $rm {
                accuracy "accuracy": opt f64,
                accuracy_is_percent "accuracy_is_percent": opt bool,
                $( $f $json : $kind $ty ),*
            }
        }
    };
    (
        $(#[$m:meta])*
        temporal $name:ident = $rm:literal {
            $( $f:ident $json:literal : $kind:ident $ty:ty ),* $(,)?
        }
    ) => {
        rm_struct! {
            $(#[$m])*
            quantified $name = $rm {
                accuracy "accuracy": opt Box<$crate::DvDuration>,
                $( $f $json : $kind $ty ),*
            }
        }
    };
    (
        $(#[$m:meta])*
        locatable $name:ident = $rm:literal {
            $( $f:ident $json:literal : $kind:ident $ty:ty ),* $(,)?
        }
    ) => {
        rm_struct! {
            $(#[$m])*
            $name = $rm {
                archetype_node_id "archetype_node_id": man String,
                name "name": man $crate::AnyDvText,
                uid "uid": opt $crate::UidBasedId,
                links "links": list $crate::Link,
                archetype_details "archetype_details": opt $crate::Archetyped,
                feeder_audit "feeder_audit": opt Box<$crate::FeederAudit>,
                $( $f $json : $kind $ty ),*
            }
        }
    };
    (
        $(#[$m:meta])*
        $name:ident = $rm:literal {
            $( $f:ident $json:literal : $kind:ident $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $( pub $f: rm_field_ty!($kind $ty), )*
        }

        impl $name {
            /// The RM type name.
            pub const RM_TYPE: &'static str = $rm;
            pub(crate) const ATTRS: &'static [$crate::meta::AttrInfo] = &[
                $( $crate::meta::AttrInfo {
                    name: $json,
                    declared: <$ty as $crate::meta::RmTyped>::RM_TYPE,
                    polymorphic: <$ty as $crate::meta::RmTyped>::POLYMORPHIC,
                    kind: rm_kind!($kind),
                }, )*
            ];

            /// Reads the attributes from a map whose `_type` (if any) has not been consumed.
            /// With `type_out`, the `_type` seen is stored there unchecked and `declared` is
            /// named in errors about unknown attributes (used when a family is decoded through
            /// its widest member); without, a `_type` must name this class (checked here, before
            /// the value is built, so that the value is not moved again).
            #[allow(unused_mut, clippy::redundant_closure_call)]
            pub(crate) fn from_map_typed_as<'de, A: serde::de::MapAccess<'de>>(
                mut map: A,
                declared: &'static str,
                type_out: Option<&mut Option<$crate::json::Key<'de>>>,
            ) -> Result<Self, A::Error> {
                #[allow(non_camel_case_types)]
                enum __F { $( $f, )* __type, __meta, __unknown(String) }
                struct __K;
                impl<'de> serde::de::DeserializeSeed<'de> for __K {
                    type Value = __F;
                    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<__F, D::Error> {
                        d.deserialize_identifier(__K)
                    }
                }
                impl<'de> serde::de::Visitor<'de> for __K {
                    type Value = __F;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("an attribute name")
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<__F, E> {
                        Ok(match v {
                            $( $json => __F::$f, )*
                            "_type" => __F::__type,
                            s if s.starts_with('_') => __F::__meta,
                            s => __F::__unknown(s.to_owned()),
                        })
                    }
                }
                $( let mut $f: rm_local_ty!($kind $ty) = None; )*
                let mut ty: Option<$crate::json::Key<'de>> = None;
                while let Some(key) = map.next_key_seed(__K)? {
                    match key {
                        $( __F::$f => {
                            if $f.is_some() {
                                return Err(<A::Error as serde::de::Error>::duplicate_field($json));
                            }
                            $f = rm_read!(map, $kind $ty);
                        } )*
                        __F::__type => {
                            ty = Some(map.next_value::<$crate::json::Key<'de>>()?);
                        }
                        __F::__meta => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                        __F::__unknown(k) if $crate::meta::is_derived_key($rm, &k) => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                        __F::__unknown(k) => {
                            return Err(<A::Error as serde::de::Error>::custom(format_args!(
                                "unknown attribute `{}` in {}", k, declared
                            )));
                        }
                    }
                }
                $( let $f = rm_finish!($f, $kind); )*
                match (type_out, ty) {
                    (Some(out), ty) => *out = ty,
                    (None, Some(t)) if $crate::meta::base_type_name(t.as_str()) != $rm => {
                        return Err(<A::Error as serde::de::Error>::custom(format_args!(
                            "_type `{}` found where {} is expected", t.as_str(), $rm
                        )));
                    }
                    (None, _) => {}
                }
                Ok($name { $( $f, )* })
            }

            /// Reads the attributes; a `_type`, if present, must name this class.
            #[inline]
            pub(crate) fn from_map<'de, A: serde::de::MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
                Self::from_map_typed_as(map, $rm, None)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        write!(f, "an object of type {}", $rm)
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<$name, A::Error> {
                        $name::from_map(map)
                    }
                }
                d.deserialize_map(V)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                serde::Serialize::serialize(&$crate::json::RmSer::root(self, &$crate::json::JsonConfig::CANONICAL), s)
            }
        }

        impl $crate::meta::RmTyped for $name {
            const RM_TYPE: &'static str = $rm;
        }

        impl<'de> $crate::field::Field<'de> for $name {}

        impl $crate::meta::AsValue for $name {
            fn as_value(&self) -> $crate::meta::Value<'_> {
                $crate::meta::Value::Object(self)
            }
        }

        impl $crate::meta::RmObject for $name {
            fn rm_type(&self) -> &'static str {
                $rm
            }
            fn attr_infos(&self) -> &'static [$crate::meta::AttrInfo] {
                Self::ATTRS
            }
            #[allow(unused_assignments, unused_variables, unused_mut)]
            fn attr_at(&self, i: usize) -> $crate::meta::Attr<'_> {
                let mut k = 0usize;
                $(
                    if i == k {
                        return rm_attr!(&self.$f, $kind);
                    }
                    k += 1;
                )*
                $crate::meta::Attr::Absent
            }
        }
    };
}

/// Declares a polymorphic family: an enum whose variants box the concrete classes (boxing keeps
/// every family two words wide, so decoding does not copy large structs up the tree). With
/// `strict`, the `_type` key is required (abstract declared types); JSON that puts `_type`
/// first is decoded without buffering.
macro_rules! rm_enum {
    (
        $(#[$m:meta])*
        $name:ident = $rm:literal { $( $v:ident ),* $(,)? }
    ) => {
        rm_enum!(@common $(#[$m])* $name = $rm { $( $v ),* });

        impl $name {
            fn dispatch<'de, A: serde::de::MapAccess<'de>>(t: &str, map: A) -> Result<Self, A::Error> {
                let base = $crate::meta::base_type_name(t);
                $( if base == $v::RM_TYPE {
                    return $v::from_map(map).map(|x| $name::$v(Box::new(x)));
                } )*
                Err(<A::Error as serde::de::Error>::custom(format_args!(
                    "_type `{}` is not a {}", t, $rm
                )))
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        write!(f, "an object of a subtype of {} with `_type`", $rm)
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<$name, A::Error> {
                        use serde::de::Error;
                        let first: Option<$crate::json::Key<'de>> = map.next_key()?;
                        let Some(first) = first else {
                            return Err(A::Error::custom(format_args!("`_type` is required for {}", $rm)));
                        };
                        if first.as_str() == "_type" {
                            let t: $crate::json::Key<'de> = map.next_value()?;
                            return $name::dispatch(t.as_str(), map);
                        }
                        // Slow path: `_type` is not the first key; buffer the object.
                        let mut obj = serde_json::Map::new();
                        let v: serde_json::Value = map.next_value()?;
                        obj.insert(first.as_str().to_owned(), v);
                        while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
                            obj.insert(k, v);
                        }
                        let t = match obj.get("_type").and_then(|t| t.as_str()) {
                            Some(t) => t.to_owned(),
                            None => return Err(A::Error::custom(format_args!(
                                "`_type` is required for {}", $rm
                            ))),
                        };
                        let value = serde_json::Value::Object(obj);
                        let base = $crate::meta::base_type_name(&t);
                        $( if base == $v::RM_TYPE {
                            return $crate::json::reread::<$v>(&value)
                                .map(|x| $name::$v(Box::new(x)))
                                .map_err(A::Error::custom);
                        } )*
                        Err(A::Error::custom(format_args!("_type `{}` is not a {}", t, $rm)))
                    }
                }
                d.deserialize_map(V)
            }
        }
    };
    (@common $(#[$m:meta])* $name:ident = $rm:literal { $( $v:ident ),* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq)]
        #[allow(clippy::large_enum_variant)]
        pub enum $name {
            $( $v(Box<$v>), )*
        }

        impl $crate::meta::RmTyped for $name {
            const RM_TYPE: &'static str = $rm;
            const POLYMORPHIC: bool = true;
        }

        impl<'de> $crate::field::Field<'de> for $name {}

        impl $crate::meta::AsValue for $name {
            fn as_value(&self) -> $crate::meta::Value<'_> {
                $crate::meta::Value::Object(self)
            }
        }

        impl $crate::meta::RmObject for $name {
            fn rm_type(&self) -> &'static str {
                match self { $( $name::$v(x) => $crate::meta::RmObject::rm_type(&**x), )* }
            }
            fn attr_infos(&self) -> &'static [$crate::meta::AttrInfo] {
                match self { $( $name::$v(x) => $crate::meta::RmObject::attr_infos(&**x), )* }
            }
            fn attr_at(&self, i: usize) -> $crate::meta::Attr<'_> {
                match self { $( $name::$v(x) => $crate::meta::RmObject::attr_at(&**x, i), )* }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                serde::Serialize::serialize(&$crate::json::RmSer::root(self, &$crate::json::JsonConfig::CANONICAL), s)
            }
        }

        $( impl From<$v> for $name {
            fn from(v: $v) -> Self {
                $name::$v(Box::new(v))
            }
        } )*
    };
}
