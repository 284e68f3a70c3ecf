from nsscope.cli import main

raise SystemExit(main())
