"""Words for toy conversations in the multi-process training tests (varied lengths, tiny vocabulary)."""

CODE_WORDS = ["def", "return", "value", "list", "index", "string", "number", "sum", "loop", "while"]
CODE_WORDS += ["for", "print", "class", "self"]
