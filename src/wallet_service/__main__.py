"""`python -m wallet_service` is the same as the `wallet-service` console script."""

from wallet_service.cli import main

if __name__ == "__main__":
    main()
