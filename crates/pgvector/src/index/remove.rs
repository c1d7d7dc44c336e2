//! Removing rows by what they are — an item, a photo, attribute values — in SQL, so `index
//! remove` on a table deletes them without reading the rest (issue 22).

use std::sync::atomic::Ordering;

use lookbook_index::Predicate;

use super::search::wanted_attributes;
use super::{PgIndex, get, sql};
use crate::PgError;
use crate::schema::META;

impl PgIndex {
    /// Deletes, in one transaction, the rows of the items `items`, of the photos `images` (paths
    /// as the rows hold them) and — when `attributes` is not empty — those holding every one of
    /// its values; returns how many went.
    pub fn remove_matching(
        &self,
        items: &[String],
        images: &[String],
        attributes: &[(String, String)],
    ) -> Result<usize, PgError> {
        let table = &self.location.table;
        let predicate = Predicate {
            attributes: attributes.to_vec(),
            exclude_item: None,
        };
        // No attributes asked for: that clause matches nothing (rather than everything).
        let wanted = match attributes.is_empty() {
            true => None,
            false => wanted_attributes(&predicate),
        };
        let failed = sql(&self.location, &format!("removing rows from `{table}`"));
        let mut conn = get(&self.pool, &self.location)?;
        let mut tx = conn.client.transaction().map_err(&failed)?;
        // One statement per kind asked for: by item the item index finds the rows (no scan of the
        // table); by photo or by attribute values the table is scanned.
        let mut removed = 0;
        if !items.is_empty() {
            let statement = format!("DELETE FROM {table} WHERE item_id = ANY($1)");
            removed += tx.execute(&statement, &[&items]).map_err(&failed)? as usize;
        }
        if !images.is_empty() {
            let statement = format!("DELETE FROM {table} WHERE image = ANY($1)");
            removed += tx.execute(&statement, &[&images]).map_err(&failed)? as usize;
        }
        if let Some(wanted) = wanted {
            let statement = format!("DELETE FROM {table} WHERE attributes @> $1");
            removed += tx.execute(&statement, &[&wanted]).map_err(&failed)? as usize;
        }
        tx.execute(
            &format!("UPDATE {META} SET rows = rows - $2, updated_at = now() WHERE name = $1"),
            &[table, &(removed as i64)],
        )
        .map_err(&failed)?;
        tx.commit().map_err(&failed)?;
        self.rows
            .fetch_sub(removed.min(self.rows.load(Ordering::Relaxed)), Ordering::Relaxed);
        *self.items.lock().expect("not poisoned") = None;
        Ok(removed)
    }
}
