from rfsetup.cli import main

raise SystemExit(main())
