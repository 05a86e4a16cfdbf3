from selfhdr_cli.cli import main

main()
