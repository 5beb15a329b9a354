"""Writers for result frames and stored tables: CSV (Italian Excel or standard), XLSX, Parquet."""
