# Messages of the `landmeter` command line for people (errors and notes on standard error).
# Tables, JSON and CSV are not translated: scripts read them.

cli-unknown-name = unknown { $what } "{ $given }"; known: { $known }
cli-none = none
cli-no-scans = tenant "{ $tenant }" has no scan to report on; tenants with scans: { $known }
cli-incomplete-stores = { $unread } of { $total } stores have a dimension that could not be read (see `unknowns`, or --unknown ...): the answer is incomplete
cli-incomplete-settings = { $unknown } of { $total } settings could not be read: the answer is incomplete
cli-report-issued = report #{ $id } issued
cli-report-preview = report preview (nothing kept; --issue keeps it for the next trend)
cli-what-provider = provider
cli-what-tenant = tenant
cli-what-account = account
cli-what-region = region
cli-what-country = country
cli-what-classification = classification
cli-what-process = process
cli-what-kind = kind
