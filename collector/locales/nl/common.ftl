# Gedeelde woorden. Fluent-syntaxis: https://projectfluent.org/fluent/guide/
# Een bericht is `id = tekst`; `{ $naam }` vult het programma in; laat elke id staan, vertaal
# de tekst. Berichten waarvan de id op `-html` eindigt mogen de getoonde HTML-tags bevatten
# (laat die staan).

common-yes = ja
common-no = nee
common-unknown = onbekend
lang-en = English
lang-nl = Nederlands

# Voor de tests van de catalogus zelf (een meervoudsvoorbeeld).
test-stores-of = { $n ->
    [one] { $n } opslag
   *[other] { $n } opslagen
} van { $total }
