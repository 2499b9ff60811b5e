@_exported import SQLiteStore
