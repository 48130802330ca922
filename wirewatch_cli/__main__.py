from wirewatch_cli.main import main

raise SystemExit(main())
