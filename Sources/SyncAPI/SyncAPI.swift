// SyncAPI: routes HTTP <-> SyncEngine. (being written)
