"""Transfer operators: another system's data straight into Constant Contact (``sql_to_constant_contact``)."""
