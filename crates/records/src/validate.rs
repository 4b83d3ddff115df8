//! Content rules checked before a record is sealed. Pure: the caller passes today's date.

use crate::date::FhirDate;
use crate::fhir::*;
use crate::{formulary, icd10, RecordsError};

type Result<T = ()> = std::result::Result<T, RecordsError>;

impl Resource {
    /// Checks the rules of this resource's kind (see each resource's `validate`). `today` is the kiosk's
    /// current date (e.g. [`FhirDate::from_unix_seconds`]), used for "not in the past/future" rules.
    pub fn validate(&self, today: FhirDate) -> Result {
        match self {
            Resource::Patient(r) => r.validate(today),
            Resource::Encounter(r) => r.validate(),
            Resource::Condition(r) => r.validate(),
            Resource::CarePlan(r) => r.validate(),
            Resource::MedicationRequest(r) => r.validate(today),
            Resource::MedicationDispense(r) => r.validate(),
            Resource::Coverage(r) => r.validate(),
            Resource::Claim(r) => r.validate(),
            Resource::ClaimResponse(r) => r.validate(),
            Resource::Consent(r) => r.validate(),
            Resource::EmergencySet(r) => r.set.validate(),
            Resource::AllergyIntolerance(r) => r.validate(),
            Resource::MedicationStatement(r) => r.validate(),
        }
    }
}

impl Patient {
    /// `birthDate`, if given, is a (possibly partial) FHIR date not after `today`.
    pub fn validate(&self, today: FhirDate) -> Result {
        if let Some(b) = &self.birth_date {
            let date = FhirDate::parse_partial_start(b)
                .ok_or_else(|| invalid_date("Patient", "birthDate", b))?;
            if date > today {
                return Err(invalid(
                    "Patient",
                    "birthDate",
                    format!("{date} is after today ({today})"),
                ));
            }
        }
        Ok(())
    }
}

impl Encounter {
    /// `class` has a code; `subject` is set; `period` is well-formed.
    pub fn validate(&self) -> Result {
        if blank(&self.class.code) {
            return Err(missing("Encounter", "class.code"));
        }
        require_opt_ref(&self.subject, "Encounter", "subject")?;
        period(&self.period, "Encounter", "period")?;
        Ok(())
    }
}

impl Condition {
    /// `code` is a billable ICD-10-CM code from [`icd10`] (system [`icd10::SYSTEM`], or the earlier [`icd10::WHO_SYSTEM`]); `subject` is set; dates are FHIR dates.
    pub fn validate(&self) -> Result {
        let code = self.code.as_ref().ok_or(RecordsError::MissingIcd10 {
            resource: "Condition",
            field: "code",
        })?;
        icd10_code(code, "Condition", "code")?;
        require_ref(&self.subject, "Condition", "subject")?;
        date(&self.onset_date_time, "Condition", "onsetDateTime")?;
        date(&self.recorded_date, "Condition", "recordedDate")?;
        Ok(())
    }
}

impl CarePlan {
    /// `subject` is set; it says something (a description or at least one activity, each with a description
    /// or code, or a reference); `period` is well-formed.
    pub fn validate(&self) -> Result {
        require_ref(&self.subject, "CarePlan", "subject")?;
        let described = self
            .description
            .as_deref()
            .is_some_and(|d| !d.trim().is_empty());
        if !described && self.activity.is_empty() {
            return Err(missing("CarePlan", "description or activity"));
        }
        for a in &self.activity {
            let detail_ok = a.detail.as_ref().is_some_and(|d| {
                d.description
                    .as_deref()
                    .is_some_and(|t| !t.trim().is_empty())
                    || d.code
                        .as_ref()
                        .is_some_and(|c| !c.coding.is_empty() || !blank(&c.text))
            });
            if !detail_ok && !a.reference.as_ref().is_some_and(Reference::is_set) {
                return Err(missing("CarePlan", "activity.detail.description"));
            }
        }
        period(&self.period, "CarePlan", "period")?;
        date(&self.created, "CarePlan", "created")?;
        Ok(())
    }
}

impl MedicationRequest {
    /// The medication is a formulary drug (ATC); `subject` is set; there is dosage text; the dispense request
    /// has a quantity greater than zero and a validity period that ends today or later.
    pub fn validate(&self, today: FhirDate) -> Result {
        const R: &str = "MedicationRequest";
        medication(&self.medication_codeable_concept, R)?;
        require_ref(&self.subject, R, "subject")?;
        dosage(&self.dosage_instruction, R)?;
        let dr = self
            .dispense_request
            .as_ref()
            .ok_or_else(|| missing(R, "dispenseRequest"))?;
        let q = dr
            .quantity
            .as_ref()
            .ok_or_else(|| missing(R, "dispenseRequest.quantity"))?;
        positive(q, R, "dispenseRequest.quantity")?;
        let (_, end) = period(&dr.validity_period, R, "dispenseRequest.validityPeriod")?;
        let end = end.ok_or_else(|| missing(R, "dispenseRequest.validityPeriod.end"))?;
        if end < today {
            return Err(RecordsError::ValidityInPast { end, today });
        }
        date(&self.authored_on, R, "authoredOn")?;
        Ok(())
    }
}

impl AllergyIntolerance {
    /// The substance is named (text or a coding); `patient` is set; the criticality, type and categories are
    /// FHIR's codes.
    pub fn validate(&self) -> Result {
        const R: &str = "AllergyIntolerance";
        let named = self.code.as_ref().is_some_and(|c| {
            !blank(&c.text)
                || c.coding
                    .iter()
                    .any(|k| !blank(&k.code) || !blank(&k.display))
        });
        if !named {
            return Err(missing(R, "code"));
        }
        require_ref(&self.patient, R, "patient")?;
        if let Some(c) = &self.criticality {
            if !["low", "high", "unable-to-assess"].contains(&c.as_str()) {
                return Err(invalid(
                    R,
                    "criticality",
                    format!("{c:?} is not low, high or unable-to-assess"),
                ));
            }
        }
        if let Some(t) = &self.kind {
            if !["allergy", "intolerance"].contains(&t.as_str()) {
                return Err(invalid(
                    R,
                    "type",
                    format!("{t:?} is not allergy or intolerance"),
                ));
            }
        }
        for c in &self.category {
            if !["food", "medication", "environment", "biologic"].contains(&c.as_str()) {
                return Err(invalid(
                    R,
                    "category",
                    format!("{c:?} is not food, medication, environment or biologic"),
                ));
            }
        }
        date(&self.recorded_date, R, "recordedDate")?;
        Ok(())
    }
}

impl MedicationStatement {
    /// The status is FHIR's; the medication is named; `subject` is set.
    pub fn validate(&self) -> Result {
        const R: &str = "MedicationStatement";
        const STATUS: [&str; 8] = [
            "active",
            "completed",
            "entered-in-error",
            "intended",
            "stopped",
            "on-hold",
            "unknown",
            "not-taken",
        ];
        if !STATUS.contains(&self.status.as_str()) {
            return Err(invalid(
                R,
                "status",
                format!("{:?} is not a MedicationStatement status", self.status),
            ));
        }
        let m = &self.medication_codeable_concept;
        if blank(&m.text) && m.coding.iter().all(|k| blank(&k.code) && blank(&k.display)) {
            return Err(missing(R, "medicationCodeableConcept"));
        }
        require_ref(&self.subject, R, "subject")?;
        date(&self.date_asserted, R, "dateAsserted")?;
        Ok(())
    }
}

impl MedicationDispense {
    /// The medication is a formulary drug (ATC); a quantity, if given, is greater than zero; a completed
    /// dispense says when it was handed over and names the prescription.
    pub fn validate(&self) -> Result {
        const R: &str = "MedicationDispense";
        medication(&self.medication_codeable_concept, R)?;
        if let Some(q) = &self.quantity {
            positive(q, R, "quantity")?;
        }
        date(&self.when_handed_over, R, "whenHandedOver")?;
        if self.status == MedicationDispenseStatus::Completed {
            if self.when_handed_over.is_none() {
                return Err(missing(R, "whenHandedOver"));
            }
            if !self.authorizing_prescription.iter().any(Reference::is_set) {
                return Err(missing(R, "authorizingPrescription"));
            }
        }
        Ok(())
    }
}

impl Coverage {
    /// `beneficiary` and at least one `payor` are set; `period` is well-formed.
    pub fn validate(&self) -> Result {
        require_ref(&self.beneficiary, "Coverage", "beneficiary")?;
        if !self.payor.iter().any(Reference::is_set) {
            return Err(missing("Coverage", "payor"));
        }
        period(&self.period, "Coverage", "period")?;
        Ok(())
    }
}

impl Claim {
    /// Patient, provider and a coverage are set; `created` is a date; diagnoses are ICD-10-CM from [`icd10`];
    /// the total is a non-negative amount in an ISO 4217 currency and, when every item has a net, equals their
    /// sum.
    pub fn validate(&self) -> Result {
        const R: &str = "Claim";
        require_ref(&self.patient, R, "patient")?;
        require_ref(&self.provider, R, "provider")?;
        if !self.insurance.iter().any(|i| i.coverage.is_set()) {
            return Err(missing(R, "insurance.coverage"));
        }
        required_date(&self.created, R, "created")?;
        for d in &self.diagnosis {
            let cc = d
                .diagnosis_codeable_concept
                .as_ref()
                .ok_or(RecordsError::MissingIcd10 {
                    resource: R,
                    field: "diagnosis.diagnosisCodeableConcept",
                })?;
            icd10_code(cc, R, "diagnosis.diagnosisCodeableConcept")?;
        }
        let total = self.total.as_ref().ok_or_else(|| missing(R, "total"))?;
        let (total_value, currency) = money(total, R, "total")?;
        let mut sum = 0.0;
        let mut all_nets = !self.item.is_empty();
        for item in &self.item {
            if item.product_or_service.coding.is_empty() && blank(&item.product_or_service.text) {
                return Err(missing(R, "item.productOrService"));
            }
            match &item.net {
                Some(net) => {
                    let (v, c) = money(net, R, "item.net")?;
                    if c != currency {
                        return Err(invalid(
                            R,
                            "item.net",
                            format!("is in {c}, the total in {currency}: use one currency"),
                        ));
                    }
                    sum += v;
                }
                None => all_nets = false,
            }
        }
        if all_nets && (sum - total_value).abs() > 0.005 {
            return Err(invalid(
                R,
                "total",
                format!("is {total_value:.2} but the items add up to {sum:.2}: correct either"),
            ));
        }
        Ok(())
    }
}

impl ClaimResponse {
    /// Patient, insurer are set; `created` is a date; totals and payment are non-negative amounts.
    pub fn validate(&self) -> Result {
        const R: &str = "ClaimResponse";
        require_ref(&self.patient, R, "patient")?;
        require_ref(&self.insurer, R, "insurer")?;
        required_date(&self.created, R, "created")?;
        for t in &self.total {
            money(&t.amount, R, "total.amount")?;
        }
        if let Some(p) = &self.payment {
            money(&p.amount, R, "payment.amount")?;
            date(&p.date, R, "payment.date")?;
        }
        Ok(())
    }
}

impl Consent {
    /// `scope` is coded; there is a category; `patient` is set; the provision period is well-formed.
    pub fn validate(&self) -> Result {
        const R: &str = "Consent";
        if self.scope.coding.is_empty() {
            return Err(missing(R, "scope"));
        }
        if self.category.is_empty() {
            return Err(missing(R, "category"));
        }
        require_opt_ref(&self.patient, R, "patient")?;
        date(&self.date_time, R, "dateTime")?;
        if let Some(p) = &self.provision {
            period(&p.period, R, "provision.period")?;
        }
        Ok(())
    }
}

// ----- helpers -----

fn missing(resource: &'static str, field: &'static str) -> RecordsError {
    RecordsError::MissingField { resource, field }
}

fn invalid(resource: &'static str, field: &'static str, problem: String) -> RecordsError {
    RecordsError::InvalidField {
        resource,
        field,
        problem,
    }
}

fn invalid_date(resource: &'static str, field: &'static str, value: &str) -> RecordsError {
    RecordsError::InvalidDate {
        resource,
        field,
        value: value.into(),
    }
}

fn blank(s: &Option<String>) -> bool {
    s.as_deref().is_none_or(|s| s.trim().is_empty())
}

fn require_ref(r: &Reference, resource: &'static str, field: &'static str) -> Result {
    if r.is_set() {
        Ok(())
    } else {
        Err(missing(resource, field))
    }
}

fn require_opt_ref(r: &Option<Reference>, resource: &'static str, field: &'static str) -> Result {
    match r {
        Some(r) => require_ref(r, resource, field),
        None => Err(missing(resource, field)),
    }
}

fn date(
    s: &Option<String>,
    resource: &'static str,
    field: &'static str,
) -> Result<Option<FhirDate>> {
    s.as_deref()
        .map(|s| FhirDate::parse(s).ok_or_else(|| invalid_date(resource, field, s)))
        .transpose()
}

fn required_date(s: &str, resource: &'static str, field: &'static str) -> Result<FhirDate> {
    if s.trim().is_empty() {
        return Err(missing(resource, field));
    }
    FhirDate::parse(s).ok_or_else(|| invalid_date(resource, field, s))
}

fn period(
    p: &Option<Period>,
    resource: &'static str,
    field: &'static str,
) -> Result<(Option<FhirDate>, Option<FhirDate>)> {
    let Some(p) = p else { return Ok((None, None)) };
    let start = date(&p.start, resource, field)?;
    let end = date(&p.end, resource, field)?;
    if let (Some(start), Some(end)) = (start, end) {
        if start > end {
            return Err(RecordsError::PeriodReversed {
                resource,
                field,
                start,
                end,
            });
        }
    }
    Ok((start, end))
}

fn icd10_code(
    cc: &CodeableConcept,
    resource: &'static str,
    field: &'static str,
) -> Result<&'static icd10::Icd10Code> {
    let coding = cc
        .coding
        .iter()
        .find(|c| matches!(c.system.as_deref(), Some(icd10::SYSTEM | icd10::WHO_SYSTEM)))
        .ok_or(RecordsError::MissingIcd10 { resource, field })?;
    let code = coding
        .code
        .as_deref()
        .filter(|c| !c.trim().is_empty())
        .ok_or(RecordsError::MissingIcd10 { resource, field })?;
    icd10::lookup(code).ok_or_else(|| RecordsError::UnknownIcd10 { code: code.into() })
}

fn medication(cc: &CodeableConcept, resource: &'static str) -> Result<&'static formulary::Drug> {
    let code = cc
        .code_in(formulary::SYSTEM)
        .filter(|c| !c.trim().is_empty());
    let code = code.ok_or(RecordsError::MissingMedicationCode { resource })?;
    formulary::lookup(code).ok_or_else(|| RecordsError::UnknownMedication { code: code.into() })
}

fn dosage(d: &[Dosage], resource: &'static str) -> Result {
    if d.iter().any(|d| !blank(&d.text)) {
        Ok(())
    } else {
        Err(RecordsError::EmptyDosage { resource })
    }
}

fn positive(q: &Quantity, resource: &'static str, field: &'static str) -> Result {
    match q.value {
        Some(v) if v.is_finite() && v > 0.0 => Ok(()),
        Some(v) => Err(RecordsError::NonPositiveQuantity {
            resource,
            field,
            value: v,
        }),
        None => Err(missing(resource, field)),
    }
}

fn money<'m>(m: &'m Money, resource: &'static str, field: &'static str) -> Result<(f64, &'m str)> {
    let value = m.value.ok_or_else(|| missing(resource, field))?;
    if !value.is_finite() || value < 0.0 {
        return Err(invalid(
            resource,
            field,
            format!("amount {value} must be zero or more"),
        ));
    }
    let currency = m.currency.as_deref().unwrap_or("");
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(invalid(
            resource,
            field,
            "needs an ISO 4217 currency code such as USD or KES".into(),
        ));
    }
    Ok((value, currency))
}
