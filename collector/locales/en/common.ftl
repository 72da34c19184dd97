# Shared words. Fluent syntax: https://projectfluent.org/fluent/guide/
# A message is `id = text`; `{ $name }` is filled in by the program; keep every id, translate
# the text. Messages whose id ends in `-html` may contain the HTML tags shown (keep them).

common-yes = yes
common-no = no
common-unknown = unknown
lang-en = English
lang-nl = Nederlands

# Used by the catalogue's own tests (a plural example).
test-stores-of = { $n ->
    [one] { $n } store
   *[other] { $n } stores
} of { $total }
