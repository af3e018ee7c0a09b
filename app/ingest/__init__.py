"""Local-authority uploads: streamed, validated per record, merged set-based (CONTRACT §3.2)."""
