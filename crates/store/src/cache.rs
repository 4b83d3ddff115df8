//! Decrypted content, kept only while the institution's consent window for the patient is open.

use rusqlite::{params, OptionalExtension, Row};
use zeroize::Zeroizing;

use crate::error::Result;
use crate::types::{Address, CachedContent, B256};
use crate::Store;

const COLS: &str = "patient_id, content_hash, institution, plaintext, cached_at";

impl Store {
    /// Caches decrypted content of a patient, decrypted under `institution`'s consent. Replaces an earlier copy.
    ///
    /// The cache follows the indexed consents: [`Store::purge_expired_consents`] removes it once the consent
    /// window of `institution` for the patient has ended (or if no consent of it is indexed at all).
    pub fn cache_put(
        &self,
        patient_id: &B256,
        content_hash: &B256,
        institution: &Address,
        plaintext: &[u8],
        now: u64,
    ) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO content_cache (patient_id, content_hash, institution, plaintext, cached_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (patient_id, content_hash) DO UPDATE SET institution = excluded.institution,
                   plaintext = excluded.plaintext, cached_at = excluded.cached_at",
            )?
            .execute(params![patient_id, content_hash, institution, plaintext, now])?;
            Ok(())
        })
    }

    /// Cached plaintext of one content hash of a patient.
    pub fn cache_get(
        &self,
        patient_id: &B256,
        content_hash: &B256,
    ) -> Result<Option<CachedContent>> {
        self.read(|c| {
            let sql = format!(
                "SELECT {COLS} FROM content_cache WHERE patient_id = ?1 AND content_hash = ?2"
            );
            Ok(c.prepare_cached(&sql)?
                .query_row(params![patient_id, content_hash], cached_from_row)
                .optional()?)
        })
    }

    /// Everything cached for a patient, oldest first.
    pub fn cached_for_patient(&self, patient_id: &B256) -> Result<Vec<CachedContent>> {
        self.read(|c| {
            let sql = format!(
                "SELECT {COLS} FROM content_cache WHERE patient_id = ?1 ORDER BY cached_at, id"
            );
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map([patient_id], cached_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Deletes the cached plaintext of every patient whose consent window for the institution that decrypted it
    /// has ended at `now` (unix seconds), been revoked, or is not indexed at all. Returns how many entries went.
    /// Deleted pages are overwritten (`secure_delete`), not just unlinked. Run it at start-up and on a timer.
    pub fn purge_expired_consents(&self, now: u64) -> Result<usize> {
        let n = self.write(|tx| {
            Ok(tx
                .prepare_cached(
                    "DELETE FROM content_cache WHERE NOT EXISTS (
                       SELECT 1 FROM consents c
                       WHERE c.patient_id = content_cache.patient_id AND c.institution = content_cache.institution
                         AND c.valid_until <> 0 AND c.valid_until >= ?1)",
                )?
                .execute([now])?)
        })?;
        if n > 0 {
            tracing::info!(
                entries = n,
                "purged cached content of patients whose consent ended"
            );
        }
        Ok(n)
    }

    /// Deletes everything cached for one patient (e.g. when the card is taken away).
    pub fn purge_patient_cache(&self, patient_id: &B256) -> Result<usize> {
        self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM content_cache WHERE patient_id = ?1",
                [patient_id],
            )?)
        })
    }
}

fn cached_from_row(r: &Row<'_>) -> rusqlite::Result<CachedContent> {
    // Copy the blob straight into wiped-on-drop memory.
    let plaintext = Zeroizing::new(r.get_ref(3)?.as_blob()?.to_vec());
    Ok(CachedContent {
        patient_id: r.get(0)?,
        content_hash: r.get(1)?,
        institution: r.get(2)?,
        plaintext,
        cached_at: r.get(4)?,
    })
}
