# De woorden van de webinterface (geserveerd als /ui/locales/<taal>.json; alleen `ui-`-berichten, zonder argumenten).

ui-skip = Naar de inhoud
ui-nav-label = Weergaven
ui-nav-dashboard = Overzicht
ui-nav-map = Kaart
ui-nav-stores = Opslagen
ui-nav-changes = Wijzigingen
ui-nav-coverage = Dekking
ui-nav-exit = Exit
ui-logout = Afmelden
ui-language = Taal
ui-sign-in = Aanmelden
ui-sign-in-help = Plak een beheerderstoken (landmeter token create). Het wordt alleen voor deze site bewaard in een HttpOnly-cookie.
ui-token = Token
ui-token-invalid = Dat token is niet geldig.
ui-loading = Laden…
ui-could-not-load = Kon niet laden:
ui-noscript = De webinterface van landmeter heeft JavaScript nodig; de opdrachtregel (landmeter stores) toont dezelfde kaart.
ui-title-dashboard = Soevereiniteitsoverzicht
ui-title-map = Afhankelijkhedenkaart
ui-title-stores = Opslagen
ui-title-changes = Wijzigingen
ui-title-coverage = Dekking
ui-title-exit = Exitscenario
ui-incomplete-coverage = Onvolledige dekking:
ui-incomplete-coverage-note = de cijfers laten weg wat niet gelezen kon worden.
