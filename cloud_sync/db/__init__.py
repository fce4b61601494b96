"""Cloud database through sqlmodel: tables, engine, repository functions, migrations."""
