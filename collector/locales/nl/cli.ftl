# Berichten van de opdrachtregel `landmeter` voor mensen (fouten en opmerkingen op standaardfout).
# Tabellen, JSON en CSV worden niet vertaald: scripts lezen ze.

cli-unknown-name = { $what } "{ $given }" bestaat niet; bekend: { $known }
cli-none = geen
cli-no-scans = organisatie "{ $tenant }" heeft geen scan om over te rapporteren; organisaties met scans: { $known }
cli-incomplete-stores = van { $unread } van de { $total } opslagen kon een eigenschap niet worden gelezen (zie `unknowns`, of --unknown ...): het antwoord is onvolledig
cli-incomplete-settings = { $unknown } van de { $total } instellingen konden niet worden gelezen: het antwoord is onvolledig
cli-report-issued = rapport #{ $id } uitgegeven
cli-report-preview = voorbeeld van het rapport (niets bewaard; --issue bewaart het voor de volgende vergelijking)
cli-what-provider = aanbieder
cli-what-tenant = organisatie
cli-what-account = account
cli-what-region = regio
cli-what-country = land
cli-what-classification = classificatie
cli-what-process = proces
cli-what-kind = soort
