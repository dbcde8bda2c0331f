from mlops_bot.serving import main

raise SystemExit(main())
