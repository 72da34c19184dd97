# The web UI's words (served as /ui/locales/<lang>.json; only `ui-` messages, no arguments).

ui-skip = Skip to content
ui-nav-label = Views
ui-nav-dashboard = Dashboard
ui-nav-map = Map
ui-nav-stores = Stores
ui-nav-changes = Changes
ui-nav-coverage = Coverage
ui-nav-exit = Exit
ui-logout = Log out
ui-language = Language
ui-sign-in = Sign in
ui-sign-in-help = Paste an operator token (landmeter token create). It is kept in an HttpOnly cookie for this site only.
ui-token = Token
ui-token-invalid = That token is not valid.
ui-loading = Loading…
ui-could-not-load = Could not load:
ui-noscript = The landmeter UI needs JavaScript; the CLI (landmeter stores) shows the same map.
ui-title-dashboard = Sovereignty dashboard
ui-title-map = Dependency map
ui-title-stores = Stores
ui-title-changes = Changes
ui-title-coverage = Coverage
ui-title-exit = Exit scenario
ui-incomplete-coverage = Incomplete coverage:
ui-incomplete-coverage-note = figures leave out what could not be read.
