//! What the migrations share: indexes and cascading foreign keys.

use sea_orm_migration::prelude::*;

/// One index, made unique when `unique` says so.
pub async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: &str,
    cols: &[&str],
    unique: bool,
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(name).table(table.to_string());
    for col in cols {
        index.col(Alias::new(*col));
    }
    if unique {
        index.unique();
    }
    manager.create_index(index).await
}

pub fn cascade(from: &str, col: &str, to: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from.to_string(), col.to_string())
        .to(to.to_string(), "id")
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}
