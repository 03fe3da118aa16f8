//! RM data types (`DV_*`), CODE_PHRASE, TERM_MAPPING and REFERENCE_RANGE.

use crate::{AnyDvText, AnyDvUri, TerminologyId};

rm_struct! {
    /// CODE_PHRASE: a code in a terminology.
    CodePhrase = "CODE_PHRASE" {
        terminology_id "terminology_id": man TerminologyId,
        code_string "code_string": man String,
        preferred_term "preferred_term": opt String,
    }
}
rm_struct! {
    /// TERM_MAPPING.
    TermMapping = "TERM_MAPPING" {
        r#match "match": man String,
        purpose "purpose": opt DvCodedText,
        target "target": man CodePhrase,
    }
}
rm_struct! {
    /// DV_BOOLEAN.
    DvBoolean = "DV_BOOLEAN" { value "value": man bool }
}
rm_struct! {
    /// DV_STATE.
    DvState = "DV_STATE" {
        value "value": man DvCodedText,
        is_terminal "is_terminal": man bool,
    }
}
rm_struct! {
    /// DV_IDENTIFIER.
    DvIdentifier = "DV_IDENTIFIER" {
        issuer "issuer": opt String,
        assigner "assigner": opt String,
        id "id": man String,
        r#type "type": opt String,
    }
}
rm_struct! {
    /// DV_TEXT: plain text, optionally with mappings.
    DvText = "DV_TEXT" {
        value "value": man String,
        hyperlink "hyperlink": opt AnyDvUri,
        formatting "formatting": opt String,
        mappings "mappings": list TermMapping,
        language "language": opt Box<CodePhrase>,
        encoding "encoding": opt Box<CodePhrase>,
    }
}
rm_struct! {
    /// DV_CODED_TEXT: text with a defining code.
    DvCodedText = "DV_CODED_TEXT" {
        value "value": man String,
        hyperlink "hyperlink": opt AnyDvUri,
        formatting "formatting": opt String,
        mappings "mappings": list TermMapping,
        language "language": opt Box<CodePhrase>,
        encoding "encoding": opt Box<CodePhrase>,
        defining_code "defining_code": man CodePhrase,
    }
}
rm_struct! {
    /// DV_PARAGRAPH.
    DvParagraph = "DV_PARAGRAPH" { items "items": mlist AnyDvText }
}
rm_struct! {
    /// DV_INTERVAL<T>: `lower`/`upper` are any DV_ORDERED (with `_type`).
    DvInterval = "DV_INTERVAL" {
        lower "lower": opt Box<crate::DataValue>,
        upper "upper": opt Box<crate::DataValue>,
        lower_included "lower_included": opt bool,
        upper_included "upper_included": opt bool,
        lower_unbounded "lower_unbounded": man bool,
        upper_unbounded "upper_unbounded": man bool,
    }
}
rm_struct! {
    /// REFERENCE_RANGE.
    ReferenceRange = "REFERENCE_RANGE" {
        meaning "meaning": man AnyDvText,
        range "range": man DvInterval,
    }
}
rm_struct! {
    /// DV_QUANTITY: a real magnitude with UCUM units.
    amount DvQuantity = "DV_QUANTITY" {
        magnitude "magnitude": man f64,
        units "units": man String,
        precision "precision": opt i64,
        units_system "units_system": opt String,
        units_display_name "units_display_name": opt String,
        property "property": opt CodePhrase,
    }
}
rm_struct! {
    /// DV_COUNT: an integer count.
    amount DvCount = "DV_COUNT" {
        magnitude "magnitude": man i64,
    }
}
rm_struct! {
    /// DV_PROPORTION: numerator/denominator of a given kind (0 ratio … 4 integer fraction).
    amount DvProportion = "DV_PROPORTION" {
        numerator "numerator": man f64,
        denominator "denominator": man f64,
        r#type "type": man i64,
        precision "precision": opt i64,
    }
}
rm_struct! {
    /// DV_ORDINAL: an integer with a coded symbol.
    ordered DvOrdinal = "DV_ORDINAL" {
        value "value": man i64,
        symbol "symbol": man DvCodedText,
    }
}
rm_struct! {
    /// DV_SCALE (RM 1.1.0): a real with a coded symbol.
    ordered DvScale = "DV_SCALE" {
        value "value": man f64,
        symbol "symbol": man DvCodedText,
    }
}
rm_struct! {
    /// DV_DURATION: an ISO 8601 duration.
    amount DvDuration = "DV_DURATION" {
        value "value": man String,
    }
}
rm_struct! {
    /// DV_DATE_TIME: an ISO 8601 date-time, possibly partial.
    temporal DvDateTime = "DV_DATE_TIME" {
        value "value": man String,
    }
}
rm_struct! {
    /// DV_DATE: an ISO 8601 date, possibly partial.
    temporal DvDate = "DV_DATE" {
        value "value": man String,
    }
}
rm_struct! {
    /// DV_TIME: an ISO 8601 time, possibly partial.
    temporal DvTime = "DV_TIME" {
        value "value": man String,
    }
}
rm_struct! {
    /// DV_PARSABLE: text in a formalism.
    DvParsable = "DV_PARSABLE" {
        charset "charset": opt CodePhrase,
        language "language": opt CodePhrase,
        value "value": man String,
        formalism "formalism": man String,
        size "size": opt i64,
    }
}
rm_struct! {
    /// DV_MULTIMEDIA: inline (base64) or referenced media.
    DvMultimedia = "DV_MULTIMEDIA" {
        charset "charset": opt CodePhrase,
        language "language": opt CodePhrase,
        alternate_text "alternate_text": opt String,
        uri "uri": opt AnyDvUri,
        data "data": opt String,
        media_type "media_type": man CodePhrase,
        compression_algorithm "compression_algorithm": opt CodePhrase,
        integrity_check "integrity_check": opt String,
        integrity_check_algorithm "integrity_check_algorithm": opt CodePhrase,
        size "size": man i64,
        thumbnail "thumbnail": opt Box<DvMultimedia>,
    }
}
rm_struct! {
    /// DV_URI.
    DvUri = "DV_URI" { value "value": man String }
}
rm_struct! {
    /// DV_EHR_URI: an `ehr:` URI.
    DvEhrUri = "DV_EHR_URI" { value "value": man String }
}
rm_struct! {
    /// DV_GENERAL_TIME_SPECIFICATION.
    DvGeneralTimeSpecification = "DV_GENERAL_TIME_SPECIFICATION" { value "value": man DvParsable }
}
rm_struct! {
    /// DV_PERIODIC_TIME_SPECIFICATION.
    DvPeriodicTimeSpecification = "DV_PERIODIC_TIME_SPECIFICATION" { value "value": man DvParsable }
}

rm_enum! {
    /// DATA_VALUE (abstract): the value of an ELEMENT.
    DataValue = "DATA_VALUE" {
        DvBoolean, DvState, DvIdentifier, DvText, DvCodedText, DvParagraph, DvInterval,
        DvQuantity, DvCount, DvProportion, DvOrdinal, DvScale, DvDuration, DvDateTime, DvDate,
        DvTime, DvParsable, DvMultimedia, DvUri, DvEhrUri, DvGeneralTimeSpecification,
        DvPeriodicTimeSpecification,
    }
}
rm_enum! {
    /// DV_ENCAPSULATED (abstract).
    DvEncapsulated = "DV_ENCAPSULATED" { DvParsable, DvMultimedia }
}
