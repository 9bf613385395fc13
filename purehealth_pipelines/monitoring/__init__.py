"""Operations monitoring: what tells an operator that something in the pipeline failed."""
