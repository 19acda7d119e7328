// ESLint over the TypeScript sources (service, extension, shared contract): `npm run lint`.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['lib/**', 'node_modules/**', 'warden/**', 'ui-tests/**', '.venv/**'] },
  {
    files: ['src/**/*.{ts,tsx}', 'bench/**/*.ts', 'scripts/**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    rules: {
      // Unused arguments named with a leading underscore document a signature (an interface method, a callback).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // JupyterLab's convention: a class and a namespace of the same name hold its options (IOptions).
      '@typescript-eslint/no-namespace': 'off',
      eqeqeq: ['error', 'smart'],
      'no-var': 'error',
      'prefer-const': 'error'
    }
  }
);
