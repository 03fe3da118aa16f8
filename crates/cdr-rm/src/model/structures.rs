//! DATA_STRUCTURES: histories, events, item structures, clusters and elements.

use crate::{AnyDvText, DataValue, DvCodedText, DvDateTime, DvDuration};

rm_struct! {
    /// HISTORY: a series of events.
    locatable History = "HISTORY" {
        origin "origin": man DvDateTime,
        period "period": opt Box<DvDuration>,
        duration "duration": opt Box<DvDuration>,
        events "events": list Event,
        summary "summary": opt ItemStructure,
    }
}
rm_struct! {
    /// POINT_EVENT.
    locatable PointEvent = "POINT_EVENT" {
        time "time": man DvDateTime,
        data "data": man ItemStructure,
        state "state": opt ItemStructure,
    }
}
rm_struct! {
    /// INTERVAL_EVENT.
    locatable IntervalEvent = "INTERVAL_EVENT" {
        time "time": man DvDateTime,
        data "data": man ItemStructure,
        state "state": opt ItemStructure,
        width "width": man DvDuration,
        sample_count "sample_count": opt i64,
        math_function "math_function": man DvCodedText,
    }
}
rm_enum! {
    /// EVENT (abstract).
    Event = "EVENT" { PointEvent, IntervalEvent }
}
rm_struct! {
    /// ITEM_TREE.
    locatable ItemTree = "ITEM_TREE" { items "items": list Item }
}
rm_struct! {
    /// ITEM_LIST.
    locatable ItemList = "ITEM_LIST" { items "items": list Element }
}
rm_struct! {
    /// ITEM_SINGLE.
    locatable ItemSingle = "ITEM_SINGLE" { item "item": man Element }
}
rm_struct! {
    /// ITEM_TABLE.
    locatable ItemTable = "ITEM_TABLE" { rows "rows": list Cluster }
}
rm_enum! {
    /// ITEM_STRUCTURE (abstract).
    ItemStructure = "ITEM_STRUCTURE" { ItemTree, ItemList, ItemSingle, ItemTable }
}
rm_struct! {
    /// CLUSTER: a group of items.
    locatable Cluster = "CLUSTER" { items "items": mlist Item }
}
rm_struct! {
    /// ELEMENT: a leaf holding a value, or a null flavour saying why not.
    locatable Element = "ELEMENT" {
        null_flavour "null_flavour": opt Box<DvCodedText>,
        value "value": opt DataValue,
        null_reason "null_reason": opt AnyDvText,
    }
}
rm_enum! {
    /// ITEM (abstract).
    Item = "ITEM" { Cluster, Element }
}
