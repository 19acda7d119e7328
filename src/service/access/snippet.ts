/** Code that loads a dataset through the kernel client; it never contains a secret. */
import { Snippet, SnippetFlavour } from '../../common/api';

const LOADERS: Record<SnippetFlavour, { variable: string; method: string; preview: string }> = {
  pandas: { variable: 'df', method: 'scan_as_pandas', preview: 'df.head()' },
  arrow: { variable: 'table', method: 'scan_as_arrow', preview: 'table.schema' },
  polars: { variable: 'df', method: 'scan_as_polars', preview: 'df.head()' }
};

export function snippetFor(dataset: string, flavour: SnippetFlavour): Snippet {
  const loader = LOADERS[flavour];
  // Dataset names are `identifier.identifier`, so a JSON string is also a valid Python string.
  const code = [
    'import warden',
    '',
    `${loader.variable} = warden.connect().${loader.method}(${JSON.stringify(dataset)})`,
    loader.preview
  ].join('\n');
  return { dataset, flavour, language: 'python', code };
}
