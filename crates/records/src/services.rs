//! The services a hospital bills (a claim's items), with the kiosk's own codes: a short list of what the desks
//! do, coded in the carekiosk service code system. A deployment that bills in a national scheme (HCPCS, EBM,
//! GOÄ…) replaces this list; the claim's structure stays.

use crate::fhir::CodeableConcept;

/// The code system of these services.
pub const SYSTEM: &str = "urn:carekiosk:service";

/// One billable service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// Code.
    pub code: &'static str,
    /// What it is.
    pub display: &'static str,
}

impl Service {
    /// As a FHIR CodeableConcept (system, code, display).
    pub fn codeable_concept(&self) -> CodeableConcept {
        CodeableConcept::coded(SYSTEM, self.code, self.display)
    }
}

/// Every service the desks bill.
pub const SERVICES: &[Service] = &[
    Service {
        code: "CONS",
        display: "Consultation",
    },
    Service {
        code: "CONS-EXT",
        display: "Extended consultation (over 20 minutes)",
    },
    Service {
        code: "FUP",
        display: "Follow-up visit",
    },
    Service {
        code: "EMERG",
        display: "Emergency treatment",
    },
    Service {
        code: "LAB-BASIC",
        display: "Basic laboratory panel",
    },
    Service {
        code: "LAB-GLUC",
        display: "Blood glucose test",
    },
    Service {
        code: "ECG",
        display: "Electrocardiogram",
    },
    Service {
        code: "XRAY",
        display: "X-ray, one region",
    },
    Service {
        code: "US",
        display: "Ultrasound examination",
    },
    Service {
        code: "INJ",
        display: "Injection",
    },
    Service {
        code: "WOUND",
        display: "Wound care",
    },
    Service {
        code: "VACC",
        display: "Vaccination",
    },
];

/// The service with this code.
pub fn lookup(code: &str) -> Option<&'static Service> {
    SERVICES
        .iter()
        .find(|s| s.code.eq_ignore_ascii_case(code.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_found() {
        for s in SERVICES {
            assert_eq!(lookup(s.code), Some(s));
            assert_eq!(SERVICES.iter().filter(|x| x.code == s.code).count(), 1);
        }
        assert_eq!(lookup("cons").map(|s| s.display), Some("Consultation"));
        assert!(lookup("NOPE").is_none());
    }
}
