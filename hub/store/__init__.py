"""The data-access layer: all SQL outside `db/migrations` lives in this package, one module per aggregate."""
