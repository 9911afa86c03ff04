"""PostgreSQL: the request log becomes a table partitioned by day (audit/partitions.py); SQLite: nothing.

The rows are copied into the new table once (retained days into daily partitions, older ones into the
default partition, which retention then empties in bounded deletes).
"""

from django.db import migrations

from audit.partitions import partition_request_log, unpartition_request_log


class Migration(migrations.Migration):
    # DDL and the copy in one transaction: all of it or none of it.
    atomic = True
    dependencies = [("audit", "0005_rollups_retention_search_indexes")]
    operations = [migrations.RunPython(partition_request_log, unpartition_request_log)]
