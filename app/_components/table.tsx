import { Table } from "@whop/react/components";

/** A Frosted UI table from column titles and rows of cells (each row keyed). */
export function SimpleTable({
  label,
  columns,
  rows,
}: {
  label: string;
  columns?: string[];
  rows: { key: string; cells: React.ReactNode[] }[];
}) {
  return (
    <Table.Root>
      <Table.Table aria-label={label}>
        {columns && (
          <Table.Header>
            <Table.Row>
              {columns.map((c) => (
                <Table.ColumnHeaderCell key={c}>{c}</Table.ColumnHeaderCell>
              ))}
            </Table.Row>
          </Table.Header>
        )}
        <Table.Body>
          {rows.map((r) => (
            <Table.Row key={r.key}>
              {r.cells.map((cell, i) => (
                <Table.Cell key={i}>{cell}</Table.Cell>
              ))}
            </Table.Row>
          ))}
        </Table.Body>
      </Table.Table>
    </Table.Root>
  );
}
