from mlops_bot.cli import main

raise SystemExit(main())
