from appliance.cli.main import cli

cli()
